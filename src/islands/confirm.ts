/**
 * The confirmation every destructive action asks for: a modal dialog where
 * the reader types the target's name (the inventory or lab), as in
 * GitHub's "type the repository name". Resolves true only on an exact match.
 */
export function confirmByName(opts: { title: string; body?: string; name: string; action: string }): Promise<boolean> {
  const dialog = document.createElement('dialog');
  dialog.className = 'db-dialog';
  dialog.innerHTML =
    '<form method="dialog"><p class="db-dialog-title"></p><p class="db-dialog-body"></p>' +
    '<label><span>Type the target\u2019s name, <code></code>, to confirm</span><input name="confirm" autocomplete="off" spellcheck="false" required></label>' +
    '<menu><button value="cancel" formnovalidate>Cancel</button><button value="run" class="db-danger"></button></menu></form>';
  dialog.querySelector('.db-dialog-title')!.textContent = opts.title;
  const body = dialog.querySelector<HTMLElement>('.db-dialog-body')!;
  if (opts.body) body.textContent = opts.body;
  else body.remove();
  dialog.querySelector('code')!.textContent = opts.name;
  dialog.querySelector('button[value="run"]')!.textContent = opts.action;
  document.body.append(dialog);
  const input = dialog.querySelector('input')!;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'run' && input.value === opts.name;
      dialog.remove();
      resolve(ok);
    });
    dialog.showModal();
    input.focus();
  });
}
