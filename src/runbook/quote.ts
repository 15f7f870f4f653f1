/**
 * Shell quoting. Every value Drillbook writes into shell text goes through
 * `shellQuote`: single quotes, with embedded single quotes closed, escaped
 * and reopened. Nothing inside single quotes is special to bash.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new TypeError('a shell value cannot contain a NUL byte');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `export NAME='value'` lines for a set of environment variables. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new TypeError(`not an environment variable name: ${k}`);
      return `export ${k}=${shellQuote(v)}`;
    })
    .join('\n');
}
