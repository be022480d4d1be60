/**
 * Options already resolved, handed to a constructor around its public check.
 *
 * A public constructor checks the caller's raw options. The library's own
 * entry points (`connect()`, a server accepting a connection, the message
 * layer) have resolved them once already: they make the object inside
 * `preset.with(resolved, () => new X())`, and the constructor takes
 * `preset.value ?? resolve(raw)`. Nothing is checked twice, and no resolved
 * object travels through a parameter typed as raw options.
 */
export class Preset<T> {
  #value: T | null = null;

  /** The resolved options for the constructor running now inside `with`, else null. */
  get value(): T | null {
    return this.#value;
  }

  /**
   * Runs `make` (a constructor call) with `value` preset.
   * @returns what `make` returns.
   */
  with<R>(value: T, make: () => R): R {
    this.#value = value;
    try {
      return make();
    } finally {
      this.#value = null;
    }
  }
}
