/**
 * Parser of the `WWW-Authenticate` header (RFC 9110, "Authentication"), which a registry sends
 * with a 401 to name the scheme it wants: `Basic realm="..."`, or `Bearer realm="...",
 * service="...",scope="..."` for the token flow of the Docker registry token specification.
 */

/** One challenge: a lowercase scheme and its parameters, keys in lowercase. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9._~+/-]+=*/y;

/**
 * Parses one or more `WWW-Authenticate` header values into challenges.
 *
 * Accepts several challenges in one value (`Basic realm="a", Bearer realm="b"`), quoted strings
 * with backslash escapes, and unquoted token values. Stops at the first part that breaks the
 * grammar and returns the challenges parsed up to there.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap((value) => new ChallengeParser(value).parse());
}

/** Returns the first challenge with `scheme` (compared in lowercase). */
export function findChallenge(challenges: AuthChallenge[], scheme: string): AuthChallenge | undefined {
  return challenges.find((challenge) => challenge.scheme === scheme.toLowerCase());
}

class ChallengeParser {
  private position = 0;

  constructor(private readonly text: string) {}

  parse(): AuthChallenge[] {
    const challenges: AuthChallenge[] = [];
    this.skipSeparators();
    while (this.position < this.text.length) {
      const scheme = this.match(TOKEN);
      if (scheme === undefined) break;
      const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
      challenges.push(challenge);
      this.skipSpaces();
      this.parseParams(challenge);
      this.skipSeparators();
    }
    return challenges;
  }

  // Reads `key=value` pairs until the next challenge's scheme or the end.
  private parseParams(challenge: AuthChallenge): void {
    while (this.position < this.text.length) {
      const start = this.position;
      const key = this.match(TOKEN);
      if (key === undefined) {
        // A token68 credential such as `Negotiate abc==` carries no parameters.
        this.match(TOKEN68);
        return;
      }
      this.skipSpaces();
      if (this.text[this.position] !== '=') {
        // A token not followed by `=` starts the next challenge.
        this.position = start;
        return;
      }
      this.position++;
      this.skipSpaces();
      const value = this.text[this.position] === '"' ? this.readQuoted() : this.match(TOKEN);
      if (value === undefined) return;
      challenge.params[key.toLowerCase()] = value;
      this.skipSpaces();
      if (this.text[this.position] !== ',') return;
      this.skipSeparators();
    }
  }

  private readQuoted(): string | undefined {
    let value = '';
    for (let i = this.position + 1; i < this.text.length; i++) {
      const char = this.text[i];
      if (char === '\\' && i + 1 < this.text.length) {
        value += this.text[++i];
      } else if (char === '"') {
        this.position = i + 1;
        return value;
      } else {
        value += char;
      }
    }
    return undefined;
  }

  private match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.position;
    const found = pattern.exec(this.text);
    if (found === null) return undefined;
    this.position += found[0].length;
    return found[0];
  }

  private skipSpaces(): void {
    while (this.text[this.position] === ' ' || this.text[this.position] === '\t') this.position++;
  }

  private skipSeparators(): void {
    while (/[\s,]/.test(this.text[this.position] ?? '')) this.position++;
  }
}
