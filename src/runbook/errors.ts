/**
 * Errors a user can act on. Every expected failure in Drillbook is a
 * DrillbookError: a stable `code`, a plain `message`, `where` it happened
 * (file:line, host, option) and a `hint` saying what to do next.
 */
export class DrillbookError extends Error {
  readonly code: string;
  readonly where?: string;
  readonly hint?: string;

  constructor(code: string, message: string, opts: { where?: string; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.where = opts.where;
    this.hint = opts.hint;
  }

  /** `error[code] where: message` followed by the hint, as the CLI prints it. */
  format(): string {
    const head = `error[${this.code}]${this.where ? ` ${this.where}` : ''}: ${this.message}`;
    return this.hint ? `${head}\n  hint: ${this.hint}` : head;
  }

  toJSON() {
    return { code: this.code, message: this.message, where: this.where, hint: this.hint };
  }
}

/** A step, chapter or frontmatter written wrongly in MDX. Fails the build. */
export class StepSyntaxError extends DrillbookError {
  constructor(message: string, where: string, hint?: string) {
    super('step-syntax', message, { where, hint });
  }
}

/** A variable value that does not fit its declared type, or an unknown variable. */
export class VariableError extends DrillbookError {
  constructor(message: string, where?: string, hint?: string) {
    super('variable', message, { where, hint });
  }
}

/** An inventory file that cannot be read or does not fit the schema. */
export class InventoryError extends DrillbookError {
  constructor(message: string, where?: string, hint?: string) {
    super('inventory', message, { where, hint });
  }
}

/** A request the server or CLI refuses on purpose (security rule, missing confirmation). */
export class Refused extends DrillbookError {
  constructor(message: string, where?: string, hint?: string) {
    super('refused', message, { where, hint });
  }
}

/** Wrong command-line usage. */
export class UsageError extends DrillbookError {
  constructor(message: string, where?: string, hint?: string) {
    super('usage', message, { where, hint });
  }
}

/** Several errors found in one pass (e.g. every malformed step in a chapter). */
export class ErrorList extends DrillbookError {
  readonly errors: DrillbookError[];
  constructor(errors: DrillbookError[]) {
    super(errors[0]?.code ?? 'error', errors.map((e) => e.format()).join('\n'));
    this.errors = errors;
  }
  override format(): string {
    return this.errors.map((e) => e.format()).join('\n');
  }
}
