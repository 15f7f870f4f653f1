/** Parse YAML keeping positions, so schema errors can name file:line. */
import { LineCounter, parseDocument, isMap, isSeq, type Document, type Node } from 'yaml';
import type { z } from 'zod';

export interface YamlSource {
  doc: Document;
  lines: LineCounter;
  /** Line number (1-based) of the node at `path`, or of its nearest existing parent. */
  lineOf(path: (string | number)[]): number;
}

export function parseYamlSource(text: string): YamlSource & { errors: { line: number; message: string }[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const errors = doc.errors.map((e) => ({ line: lines.linePos(e.pos[0]).line, message: e.message.split('\n')[0] }));
  const lineOf = (path: (string | number)[]) => {
    let node: unknown = doc.contents;
    let best = node as Node | null;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
        if (!pair) break;
        node = pair.value ?? pair.key;
        // The key's own line: a value may start on a later line (nested maps).
        best = (pair.key ?? pair.value) as Node;
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key];
        if (!node) break;
        best = node as Node;
      } else break;
    }
    const offset = best?.range?.[0] ?? 0;
    return lines.linePos(offset).line;
  };
  return { doc, lines, lineOf, errors };
}

/** Turn zod issues into "file:line" + message pairs using the YAML positions. */
export function locateIssues(
  err: z.ZodError,
  src: Pick<YamlSource, 'lineOf'>,
  file: string,
  lineOffset = 0,
): { where: string; message: string }[] {
  return err.issues.map((i) => {
    // An unknown key is reported on its parent object; point at the key itself.
    const path = i.code === 'unrecognized_keys' && i.keys.length ? [...i.path, i.keys[0]] : i.path;
    return {
      where: `${file}:${src.lineOf(path) + lineOffset}`,
      message: `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`,
    };
  });
}
