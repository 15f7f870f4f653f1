/**
 * Look a key up in a record read from user input (YAML, MDX, JSON, argv)
 * without reaching Object.prototype: `constructor` or `toString` are not
 * declared variables, hosts or commands just because every object has them.
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
