/**
 * Filling a route's path template with its parameters. Internal to
 * `sdk/client/`.
 *
 * @module
 */

/**
 * `path` with each `{name}` replaced by `params[name]`, percent-encoded as
 * one path segment (`/`, `?`, `#`, `%`, `:` and spaces included), so a site
 * decodes exactly the value given: stream `truck-17/temp` travels as
 * `truck-17%2Ftemp`, `did:key:z6Mk…` as `did%3Akey%3Az6Mk…`.
 *
 * Throws a `TypeError` for a missing parameter and a `RangeError` for a value
 * no URL can carry as one segment: the empty string, `.` and `..` (URL
 * parsers remove dot segments, even percent-encoded ones, so the request
 * would reach another route) and a string with a lone surrogate (not
 * encodable as UTF-8).
 */
export function fillPath(path: string, params: Record<string, unknown>): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`Cannot build ${path}: missing parameter ${name}`);
    const text = String(value);
    if (text === "" || text === "." || text === "..") {
      throw new RangeError(
        `Cannot build ${path}: parameter ${name} is ${JSON.stringify(text)}, which a URL ` +
          "cannot carry as a path segment",
      );
    }
    try {
      return encodeURIComponent(text);
    } catch {
      throw new RangeError(
        `Cannot build ${path}: parameter ${name} is not well-formed Unicode (a lone surrogate)`,
      );
    }
  });
}
