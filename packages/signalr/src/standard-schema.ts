import { InvalidArgumentError } from '@backplane/core';

/**
 * A validator in the Standard Schema v1 shape, which zod, valibot, arktype and others implement: any of
 * them can be given as is, without this package depending on them. `validate` returns the value to use
 * (possibly transformed) or the issues found, or a promise of either.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The standard's properties, under a name no library uses for anything else. */
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What a {@link StandardSchemaV1} validator returns: the value to use, or what is wrong. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardSchemaIssue[] };

/** One problem a validator found. */
export interface StandardSchemaIssue {
  /** What is wrong, in words. */
  readonly message: string;
  /** Where in the value, when not at its top. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/**
 * Validators of a method's arguments, by position: the first checks the client's first argument, and so on
 * (`undefined` leaves one unchecked). Client-to-server streams and the `AbortSignal` of an `async *`
 * method are not arguments the client sends, and have no validator.
 */
export type ArgumentSchemas = readonly (StandardSchemaV1 | undefined)[];

/** Argument validators of a hub's methods, by method name (matched case-insensitively, like the methods). */
export type MethodSchemas = Readonly<Record<string, ArgumentSchemas>>;

/** Why arguments were refused: the position of the first refused one and its issues. */
export interface BindingFailure {
  readonly index: number;
  readonly issues: readonly StandardSchemaIssue[];
}

/**
 * Validates the first `count` of `args` (the client's) with `schemas`, replacing each by the value its
 * validator returned; resolves with the first failure, or undefined. A validator that throws rejects.
 */
export async function bindArguments(
  schemas: ArgumentSchemas,
  args: unknown[],
  count: number,
): Promise<BindingFailure | undefined> {
  const checked = Math.min(schemas.length, count);
  for (let index = 0; index < checked; index++) {
    const schema = schemas[index];
    if (!schema) continue;
    const result = await schema['~standard'].validate(args[index]);
    if (result.issues) return { index, issues: result.issues };
    args[index] = result.value;
  }
  return undefined;
}

/**
 * `value` as the argument validators of a method the client fills `parameters` arguments of, or undefined
 * when absent; throws when it is not an array of Standard Schema validators, or has more of them than the
 * method has parameters.
 */
export function argumentSchemas(
  value: unknown,
  parameters: number,
  where: string,
): ArgumentSchemas | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((s) => s === undefined || isStandardSchema(s)))
    throw new InvalidArgumentError(
      `${where} must be an array of Standard Schema validators (an object with '~standard'), one per argument.`,
    );
  if (value.length > parameters)
    throw new InvalidArgumentError(
      `${where} has ${value.length} validators but the method takes ${parameters} argument(s) from the client.`,
    );
  return value as ArgumentSchemas;
}

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const props = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.['~standard'];
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof props === 'object' &&
    props !== null &&
    props.version === 1 &&
    typeof props.validate === 'function'
  );
}
