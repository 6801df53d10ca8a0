/**
 * The developer command line's commands. Each is a thin layer over the SDK
 * (`sdk/mod.ts`): keys and envelopes are built and signed by it, every
 * request goes through its client (retries, failover, typed errors), proof
 * bundles are fetched and verified by its light client, trust files are its
 * trust configs. Nothing here speaks the protocol itself. The operator
 * commands (`member …`, `leader transfer`, `backup`) call the admin routes
 * through the same client (see `admin.ts`).
 *
 * @module
 */
import {
  type Algorithm,
  ALGORITHMS,
  base64urlEncode,
  buildTx,
  canonicalJson,
  type Consistency,
  decodeDidKey,
  DidKeyError,
  EdgeLedgerClient,
  EdgeLedgerError,
  EnvelopeError,
  envelopeJson,
  fetchReceiptBundle,
  followKeyRotations,
  generateKeyPair,
  hexEncode,
  type KeyPair,
  type Kind,
  knownKinds,
  LightClient,
  type LightSource,
  parseCheckpoint,
  parseEnvelope,
  parseNote,
  parseTrustConfig,
  parseVerifierKey,
  type ReceiptBundle,
  type RequestInput,
  type RouteDefinition,
  ROUTES,
  signEnvelope,
  softwareSigner,
  transactionId,
  type TrustConfig,
  TrustConfigError,
  trustConfigFromGenesis,
  trustConfigFromSites,
} from "../../sdk/mod.ts";
import {
  ADMIN_KEY_ENV,
  ADMIN_ROUTES,
  adminKeyFrom,
  BACKUP_IDLE_MS_MAX,
  callLeader,
  downloadBackup,
  httpHost,
  leaderForChange,
  memberPublicKey,
  readMembers,
  siteClient,
  siteNameOf,
  siteThatKnowsTheLeader,
} from "./admin.ts";
import {
  type FlagSpecs,
  type FlagValues,
  parseArgs,
  parseCount,
  parseDuration,
  UsageError,
} from "./args.ts";
import {
  checkFolder,
  checkOutput,
  fileErrorText,
  INPUT_BYTES_MAX,
  inputName,
  keyFileText,
  readJsonInput,
  readKeyFile,
  writeOutput,
} from "./files.ts";
import {
  attempt,
  CliError,
  ConnectionNotes,
  errorMessage,
  fields,
  formatBackup,
  formatBlockEvent,
  formatMembers,
  formatReceipt,
  formatSites,
  formatStatus,
  formatTx,
  formatVerdictFailure,
  formatVerified,
  printable,
  transactions,
} from "./output.ts";
import { requirePermissions } from "./permissions.ts";
import type { FileTrustStore } from "../../sdk/light/file_trust_store.ts";

/** The program's name in usage lines. */
export const PROGRAM = "edgeledger";
/** The site asked when neither `--url` nor `EDGELEDGER_URL` names one. */
export const DEFAULT_URL = "http://127.0.0.1:7001";
/** The environment variable that names the sites when `--url` does not. */
const URL_ENV = "EDGELEDGER_URL";
/** How long `tx submit --wait` waits for commit by default. */
export const COMMIT_WAIT_MS_DEFAULT = 30_000;
/** How long `proof` waits by default for a checkpoint that covers the transaction. */
export const PROOF_WAIT_MS_DEFAULT = 10_000;
/**
 * Longest `--timeout`: a day. A timer holds at most 2^31 − 1 ms (about 24.8
 * days); a longer one would fire at once.
 */
export const TIMEOUT_MS_MAX = 86_400_000;
/** Pause between `proof`'s attempts while the checkpoint does not cover the transaction yet. */
const PROOF_POLL_MS = 250;

/** What a command reads and writes besides files: the process's streams and environment. */
export interface CliIo {
  /** Writes `text` to standard output as is. */
  stdout(text: string): void;
  /** Writes `text` to standard error as is. */
  stderr(text: string): void;
  /** An environment variable, or undefined. */
  env(name: string): string | undefined;
  /** The whole of standard input, as text. */
  readStdin(): Promise<string>;
  /**
   * Calls `handler` on Ctrl-C (SIGINT) until the returned function is
   * called; without a handler, Ctrl-C ends the process as usual.
   */
  onInterrupt(handler: () => void): () => void;
}

/** One command: its name, its one-line summary, its help, and how it runs. */
export interface Command {
  /** The words that call it, e.g. `tx sign`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The flags it takes. */
  readonly flags: FlagSpecs;
  /** The full help text. */
  help(): string;
  /** Parses `argv` (the arguments after the command's name) and runs; resolves to the exit code. */
  run(io: CliIo, argv: readonly string[]): Promise<number>;
}

/** A command's definition; {@link command} turns it into a {@link Command}. */
interface CommandSpec<S extends FlagSpecs> {
  name: string;
  /** The usage line after the program's name. */
  usage: string;
  summary: string;
  /** Paragraphs of help, already wrapped. */
  description: string;
  /** The positional arguments it takes, `[min, max]`, and their names for errors. */
  arity: readonly [number, number];
  argNames: readonly string[];
  flags: S;
  run(ctx: Context, flags: FlagValues<S>, args: string[]): Promise<number>;
}

/** What a running command prints with. */
export class Context {
  /** The process's streams and environment. */
  readonly io: CliIo;

  /** Wraps `io`. */
  constructor(io: CliIo) {
    this.io = io;
  }

  /**
   * Prints `text` and a newline (unless it ends with one) on standard
   * output, its control characters escaped ({@link printable}).
   */
  out(text: string): void {
    const shown = printable(text);
    this.io.stdout(shown.endsWith("\n") ? shown : shown + "\n");
  }

  /** Prints one line on standard error (escaped as `out`): progress and notes, never results. */
  note(text: string): void {
    this.io.stderr(printable(text) + "\n");
  }
}

function command<S extends FlagSpecs>(spec: CommandSpec<S>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    flags: spec.flags,
    help: () => commandHelp(spec),
    async run(io: CliIo, argv: readonly string[]): Promise<number> {
      refuseSecretFlags(argv);
      const parsed = parseArgs(argv, spec.flags);
      if (parsed.help) {
        io.stdout(commandHelp(spec) + "\n");
        return 0;
      }
      const [min, max] = spec.arity;
      if (parsed.positionals.length < min) {
        throw new UsageError(`Missing ${spec.argNames[parsed.positionals.length]}`);
      }
      if (parsed.positionals.length > max) {
        throw new UsageError(`Unexpected argument "${parsed.positionals[max]}"`);
      }
      return await spec.run(new Context(io), parsed.flags, parsed.positionals);
    },
  };
}

/**
 * Flags that would carry a secret on the command line, which no command
 * takes: a flag's value lands in shell history and in `ps`. Each names what
 * to use instead.
 */
export const SECRET_FLAGS: Readonly<Record<string, string>> = {
  "admin-key": `pass --admin-key-file FILE or set $${ADMIN_KEY_ENV}`,
};

/**
 * Throws a usage error for a {@link SECRET_FLAGS} flag in `argv`, saying
 * what to use instead and never quoting its value.
 */
function refuseSecretFlags(argv: readonly string[]): void {
  for (const arg of argv) {
    if (arg === "--") return;
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined;
    if (name !== undefined && Object.hasOwn(SECRET_FLAGS, name)) {
      throw new UsageError(
        `There is no flag --${name}: a key on the command line lands in shell history; ` +
          SECRET_FLAGS[name],
      );
    }
  }
}

function commandHelp(spec: CommandSpec<FlagSpecs>): string {
  const flags = Object.entries(spec.flags).map(([name, f]) => [
    `--${name}${f.value ? ` ${f.value}` : ""}${f.multiple ? " …" : ""}`,
    f.help,
  ]);
  const width = Math.max(...flags.map(([f]) => f.length));
  return [
    `usage: ${PROGRAM} ${spec.usage}`,
    "",
    spec.description,
    "",
    "Flags:",
    ...flags.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
    `  ${"--help".padEnd(width)}  this help`,
  ].join("\n");
}

// ---- shared flags ----------------------------------------------------------

/**
 * `--json` with `help` saying what it prints: the site's answer as it came
 * (status, sites, tx get) or JSON the command makes, each its own.
 */
function jsonFlag(help: string) {
  return { json: { type: "boolean", help } } as const;
}

const SITE_FLAGS = {
  url: {
    type: "string",
    multiple: true,
    value: "URL",
    help: `a site's base URL; repeat for failover (default $EDGELEDGER_URL, comma-separated, ` +
      `or when it is unset or empty ${DEFAULT_URL})`,
  },
  "api-key": {
    type: "string",
    value: "KEY",
    help: "API key, sent as Authorization: Bearer KEY (default $EDGELEDGER_API_KEY)",
  },
} as const;

const CONSISTENCY_FLAG = {
  consistency: {
    type: "string",
    value: "LEVEL",
    help: "stale (this site's replica; the default), leader, or linearizable",
  },
} as const;

/** `--consistency` and `--min-height`: how current a read must be. */
const READ_FLAGS = {
  ...CONSISTENCY_FLAG,
  "min-height": {
    type: "string",
    value: "N",
    help: "answer only once the site has applied block N, the height of a receipt you were " +
      "answered: each --url site is asked once and waits up to 5 s for it (exit 1 when none has it)",
  },
} as const;

/** The call options of `--min-height`: none when it is not given. */
function minHeightOf(value: string | undefined): { minHeight?: number } {
  return value === undefined ? {} : { minHeight: parseCount(value, "--min-height") };
}

/**
 * The client of a read with `--min-height` (`at`): one attempt per site.
 * That is how the SDK's read-your-writes is meant to go (sdk/client's
 * README): a site that has not applied the height waits for it up to 5 s,
 * then answers 503 and the read moves on to the next site at once; when no
 * site has it, the read fails. The client's usual retries would ask the
 * same sites again for some 30 s, each time for a block they did not get
 * in the 5 s before.
 */
function readClient(
  io: CliIo,
  flags: { url: string[]; "api-key": string | undefined },
  at: { minHeight?: number },
): EdgeLedgerClient {
  return clientFrom(io, flags, at.minHeight === undefined ? {} : { oncePerSite: true });
}

const CONSISTENCIES: readonly Consistency[] = ["stale", "leader", "linearizable"];

/**
 * The client of `--url` (or `EDGELEDGER_URL`, or {@link DEFAULT_URL}) and
 * `--api-key`. Throws a usage error for a URL that is not http(s), and a
 * permission error (exit code 2) unless the net permission is granted for
 * every site: failover may reach any of them. With `oncePerSite`, a call
 * asks each site once, in failover order, and is not retried beyond.
 */
export function clientFrom(
  io: CliIo,
  flags: { url: string[]; "api-key": string | undefined },
  options: { oncePerSite?: boolean } = {},
): EdgeLedgerClient {
  const urls = siteUrls(io, flags);
  return new EdgeLedgerClient({
    urls,
    headers: apiKeyHeaders(io, flags),
    retry: options.oncePerSite ? { attemptsMax: urls.length } : undefined,
  });
}

/**
 * The sites of `--url` (or `EDGELEDGER_URL`, or {@link DEFAULT_URL}), in
 * failover order. `EDGELEDGER_URL` unset or empty is no value; set to
 * something that names no URL (`","`, spaces) it is a usage error, not the
 * default: the user meant some site, and it may not be the local one.
 * Throws a usage error for a URL that is not http(s), and a permission error
 * (exit code 2) unless the net permission is granted for every site.
 */
export function siteUrls(io: CliIo, flags: { url: string[] }): string[] {
  const urls = flags.url.length > 0 ? flags.url : envUrls(io) ?? [DEFAULT_URL];
  for (const url of urls) {
    const host = httpHost(url);
    if (host === undefined) {
      throw new UsageError(`"${url}" is not a site URL (http:// or https://)`);
    }
    requirePermissions(`Cannot connect to ${url}`, [{ name: "net", host }]);
  }
  return urls;
}

/**
 * The sites of `EDGELEDGER_URL`, comma-separated (spaces around each and empty
 * items ignored), or undefined when it is unset or empty. Throws a usage error
 * when it is set but names no URL.
 */
function envUrls(io: CliIo): string[] | undefined {
  const value = io.env(URL_ENV);
  if (value === undefined || value === "") return undefined;
  const urls = value.split(",").map((u) => u.trim()).filter((u) => u !== "");
  if (urls.length === 0) {
    throw new UsageError(
      `${URL_ENV} is set but names no site URL ("${value}"): set it to comma-separated ` +
        `http(s) URLs, unset it, or use --url`,
    );
  }
  return urls;
}

/** The `Authorization` header of `--api-key` (or `EDGELEDGER_API_KEY`), if one is given. */
function apiKeyHeaders(
  io: CliIo,
  flags: { "api-key": string | undefined },
): Record<string, string> {
  const apiKey = flags["api-key"] ?? io.env("EDGELEDGER_API_KEY");
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

function consistencyOf(value: string | undefined): Consistency | undefined {
  if (value === undefined) return undefined;
  if (!(CONSISTENCIES as readonly string[]).includes(value)) {
    throw new UsageError(`Flag --consistency must be one of ${CONSISTENCIES.join(", ")}`);
  }
  return value as Consistency;
}

/** `text` broken at spaces into lines of at most `width` characters. */
function wrap(text: string, width = 92): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  return [...lines, line].join("\n");
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`Flag ${flag} is required`);
  return value;
}

/**
 * A transaction id as typed: 64 hex characters in either case (a copy from
 * another tool may be uppercase; the explorer's search takes either), returned
 * lowercase, as the API spells ids. Throws a usage error for anything else.
 */
function txIdOf(value: string): string {
  if (!/^[0-9a-f]{64}$/i.test(value)) {
    throw new UsageError(`"${value}" is not a transaction id (64 hex characters)`);
  }
  return value.toLowerCase();
}

// ---- keys ------------------------------------------------------------------

/** What `key new` and `key show` say of a key: never its private half. */
function keyView(key: KeyPair): { did: string; algorithm: Algorithm; publicKey: string } {
  return { did: key.did, algorithm: key.algorithm, publicKey: base64urlEncode(key.publicKey) };
}

const keyNew = command({
  name: "key new",
  usage: "key new --out FILE [--alg ed25519|p256|secp256k1] [--force]",
  summary: "Make a signing key, write it to a file (mode 0600), print its did:key",
  description: [
    "Makes a key pair and writes the private key to FILE as a private JWK (the format the SDK's",
    "exportKey writes, as task start does for its keys), readable by its owner only, then prints",
    "the key's did:key. Refuses an existing FILE (exit 2) unless --force. Ed25519 is the",
    "default; p256 is what secure elements sign with.",
  ].join("\n"),
  arity: [0, 0],
  argNames: [],
  flags: {
    out: { type: "string", value: "FILE", help: "where to write the private key (required)" },
    alg: { type: "string", value: "ALG", help: "ed25519 (default), p256 or secp256k1" },
    force: { type: "boolean", help: "replace FILE if it exists" },
    ...jsonFlag("print {did, algorithm, publicKey, file} as JSON (made by the command)"),
  },
  async run(ctx, flags) {
    const out = required(flags.out, "--out");
    const alg = flags.alg ?? "ed25519";
    if (!(ALGORITHMS as readonly string[]).includes(alg)) {
      throw new UsageError(`Flag --alg must be one of ${ALGORITHMS.join(", ")}, not "${alg}"`);
    }
    const output = { what: "key file", replace: flags.force };
    await checkOutput(out, output);
    const key = generateKeyPair(alg as Algorithm);
    await writeOutput(out, keyFileText(key), { ...output, mode: 0o600 });
    if (flags.json) {
      ctx.out(JSON.stringify({ ...keyView(key), file: out }));
    } else {
      ctx.out(key.did);
      ctx.note(`Wrote the ${key.algorithm} private key to ${out} (mode 0600); keep it secret`);
    }
    return 0;
  },
});

const keyShow = command({
  name: "key show",
  usage: "key show FILE",
  summary: "Show a key file's did:key, algorithm and public key",
  description: [
    "Reads a key file (a private JWK, as key new and task start write them) and shows its",
    "did:key, algorithm and public key (base64url). Never prints the private key.",
  ].join("\n"),
  arity: [1, 1],
  argNames: ["FILE (the key file)"],
  flags: { ...jsonFlag("print {did, algorithm, publicKey} as JSON (made by the command)") },
  async run(ctx, flags, [path]) {
    const key = await readKeyFile(ctx.io, path, (line) => ctx.note(line));
    const view = keyView(key);
    ctx.out(
      flags.json ? JSON.stringify(view) : fields([
        ["did:key", view.did],
        ["algorithm", view.algorithm],
        ["public key", view.publicKey],
      ]),
    );
    return 0;
  },
});

// ---- the cluster -----------------------------------------------------------

const status = command({
  name: "status",
  usage: "status [--url URL …]",
  summary: "A site's status: role, term, leader, height, log size, health",
  description: "Shows GET /v1/status of the first site that answers.",
  arity: [0, 0],
  argNames: [],
  flags: { ...SITE_FLAGS, ...jsonFlag("print the site's answer as it came (JSON)") },
  async run(ctx, flags) {
    const client = clientFrom(ctx.io, flags);
    const res = await attempt(
      "Cannot read the site's status",
      () => client.request(ROUTES.getStatus, {}),
    );
    ctx.out(flags.json ? res.text : formatStatus(res.body, res.site));
    return 0;
  },
});

const sites = command({
  name: "sites",
  usage: "sites [--url URL …]",
  summary: "The member sites and their checkpoint verifier keys",
  description: [
    "Shows GET /v1/sites: the member sites (voters, then learners) with their checkpoint",
    "verifier keys. To trust these keys, see trust init.",
  ].join("\n"),
  arity: [0, 0],
  argNames: [],
  flags: { ...SITE_FLAGS, ...jsonFlag("print the site's answer as it came (JSON)") },
  async run(ctx, flags) {
    const client = clientFrom(ctx.io, flags);
    const res = await attempt(
      "Cannot read the member sites",
      () => client.request(ROUTES.listSites, {}),
    );
    ctx.out(flags.json ? res.text : formatSites(res.body.sites));
    return 0;
  },
});

const checkpoint = command({
  name: "checkpoint",
  usage: "checkpoint [--consistency LEVEL] [--min-height N] [--url URL …]",
  summary: "The latest co-signed checkpoint (a C2SP signed note)",
  description: [
    "Prints the latest checkpoint as the site serves it: a C2SP signed note (origin, tree size,",
    "root hash, height, block hash, then one signature line per site). Not verified: verify does",
    "that for a proof bundle. --json prints its fields parsed, the note included; its rootHash is",
    "hex (the note's is base64). --min-height N: each --url site is asked once and waits up to",
    "5 s for block N; exit 1 when none has it.",
  ].join("\n"),
  arity: [0, 0],
  argNames: [],
  flags: {
    ...READ_FLAGS,
    ...SITE_FLAGS,
    ...jsonFlag(
      "print its fields as JSON: origin, size, rootHash (hex), height, blockHash, signatures, note",
    ),
  },
  async run(ctx, flags) {
    const consistency = consistencyOf(flags.consistency);
    const at = minHeightOf(flags["min-height"]);
    const client = readClient(ctx.io, flags, at);
    const res = await attempt(
      "Cannot read the checkpoint",
      () => client.request(ROUTES.getCheckpoint, { query: { consistency } }, at),
    );
    // Parsed before it is printed either way: another server's page (an
    // answer of 200 at a wrong URL) is no checkpoint to show.
    let parsed;
    try {
      const note = parseNote(res.text);
      parsed = { note, checkpoint: parseCheckpoint(note.text) };
    } catch (e) {
      throw new CliError(
        `Cannot read the checkpoint from ${res.site}: not a checkpoint (${
          (e as Error).message.replace(/\s+/g, " ")
        })`,
      );
    }
    if (!flags.json) {
      // A signed note holds no control characters: a site that sends some is escaped.
      ctx.io.stdout(printable(res.text));
      return 0;
    }
    ctx.out(JSON.stringify({
      origin: parsed.checkpoint.origin,
      size: parsed.checkpoint.size,
      rootHash: hexEncode(parsed.checkpoint.rootHash),
      height: parsed.checkpoint.height,
      blockHash: parsed.checkpoint.blockHash,
      signatures: parsed.note.signatures.map((s) => s.name),
      note: res.text,
    }));
    return 0;
  },
});

// ---- transactions ------------------------------------------------------------

const txSign = command({
  name: "tx sign",
  usage: "tx sign <kind> --key FILE … --payload JSON|@FILE [--ledger NAME] [--expires-in 1h] " +
    "[--out FILE [--force]]",
  summary: "Build and sign a transaction envelope",
  description: [
    "Builds an envelope of <kind> whose body is the payload (checked against the kind's schema",
    "first), signs it with every --key (in signer order: kinds such as custody hand-offs need",
    "several), and prints the envelope as canonical JSON on standard output and its transaction",
    "id on standard error. With --out it writes the envelope to FILE and prints the id; it",
    "refuses an existing FILE (exit 2) unless --force. The ledger's name comes from --ledger, or",
    "else from the site's status.",
    "",
    wrap(`Kinds: ${knownKinds().join(", ")}.`),
  ].join("\n"),
  arity: [1, 1],
  argNames: ["<kind> (e.g. data.anchor)"],
  flags: {
    key: {
      type: "string",
      multiple: true,
      value: "FILE",
      help: "a signer's key file (required; - reads it from standard input)",
    },
    payload: {
      type: "string",
      value: "JSON|@FILE",
      help: "the body: JSON text, @FILE, or @- for standard input (required)",
    },
    ledger: { type: "string", value: "NAME", help: "the ledger's name (default: from --url)" },
    "expires-in": {
      type: "string",
      value: "DURATION",
      help: "lifetime, e.g. 10m or 2h (default 1h; sites refuse more than their window, 24h)",
    },
    out: { type: "string", value: "FILE", help: "write the envelope to FILE" },
    force: { type: "boolean", help: "with --out, replace FILE if it exists" },
    ...SITE_FLAGS,
    ...jsonFlag("print {txId, envelope} as JSON"),
  },
  async run(ctx, flags, [kind]) {
    if (!(knownKinds() as string[]).includes(kind)) {
      throw new UsageError(`Unknown kind "${kind}"; the kinds are ${knownKinds().join(", ")}`);
    }
    if (flags.key.length === 0) throw new UsageError("Flag --key is required");
    const payload = required(flags.payload, "--payload");
    // Standard input can be read once: a second reader would find it empty.
    if (flags.key.filter((k) => k === "-").length + (payload === "@-" ? 1 : 0) > 1) {
      throw new UsageError("Only one of --key - and --payload @- can read standard input");
    }
    const ttlMs = flags["expires-in"] === undefined
      ? undefined
      : parseDuration(flags["expires-in"], "--expires-in");
    if (flags.force && flags.out === undefined) throw new UsageError("Flag --force needs --out");
    const output = { what: "envelope", replace: flags.force };
    if (flags.out !== undefined) await checkOutput(flags.out, output);
    let body: unknown;
    if (payload.startsWith("@")) {
      body = await readJsonInput(ctx.io, payload.slice(1), "payload");
    } else {
      try {
        body = JSON.parse(payload);
      } catch (e) {
        throw new UsageError(`Flag --payload is not JSON: ${(e as Error).message}`);
      }
    }
    const keys = [];
    for (const path of flags.key) keys.push(await readKeyFile(ctx.io, path, (l) => ctx.note(l)));
    let ledger = flags.ledger;
    if (ledger === undefined) {
      const client = clientFrom(ctx.io, flags);
      ledger = (await attempt(
        "Cannot read the ledger's name from the site (pass --ledger to sign offline)",
        () => client.status(),
      )).ledger;
    }
    let envelope;
    try {
      const unsigned = buildTx(kind as Kind, body as never, {
        ledger,
        signers: keys.map((k) => k.did),
        ttlMs,
      });
      envelope = await signEnvelope(unsigned, keys.map(softwareSigner));
    } catch (e) {
      if (e instanceof EnvelopeError) {
        throw new CliError(`Cannot build the ${kind} transaction: ${e.message}`);
      }
      throw e;
    }
    const txId = transactionId(envelope);
    const text = envelopeJson(envelope);
    if (flags.out !== undefined) {
      await writeOutput(flags.out, text + "\n", output);
    }
    if (flags.json) {
      ctx.out(canonicalJson({ txId, envelope }));
    } else if (flags.out !== undefined) {
      ctx.out(txId);
      ctx.note(`Wrote the signed envelope to ${flags.out}`);
    } else {
      ctx.out(text);
      ctx.note(`txId ${txId}`);
    }
    return 0;
  },
});

const txSubmit = command({
  name: "tx submit",
  usage: "tx submit FILE|- [--wait [--timeout 30s]]",
  summary: "Submit a signed envelope and print its receipt",
  description: [
    "Submits the signed envelope in FILE (- reads standard input) and prints its receipt.",
    "Submitting the same envelope again is safe: it is the same transaction. With --wait it",
    "waits until the transaction is committed and prints the committed receipt, exiting 1 if",
    "its contract rejected it. A site's refusal exits 1 with the problem's type and detail.",
  ].join("\n"),
  arity: [1, 1],
  argNames: ["FILE (the signed envelope, or - for standard input)"],
  flags: {
    wait: { type: "boolean", help: "wait for the commit" },
    timeout: {
      type: "string",
      value: "DURATION",
      help: `how long --wait waits (default ${COMMIT_WAIT_MS_DEFAULT / 1000}s)`,
    },
    ...SITE_FLAGS,
    ...jsonFlag("print the receipt as JSON"),
  },
  async run(ctx, flags, [path]) {
    if (flags.timeout !== undefined && !flags.wait) {
      throw new UsageError("Flag --timeout needs --wait");
    }
    const timeoutMs = flags.timeout === undefined
      ? COMMIT_WAIT_MS_DEFAULT
      : parseDuration(flags.timeout, "--timeout", TIMEOUT_MS_MAX);
    const client = clientFrom(ctx.io, flags);
    const value = await readJsonInput(ctx.io, path, "envelope");
    let envelope;
    try {
      envelope = parseEnvelope(value);
    } catch (e) {
      if (e instanceof EnvelopeError) {
        throw new CliError(
          `Cannot read the envelope ${inputName(path)}: ${e.message}`,
        );
      }
      throw e;
    }
    const txId = transactionId(envelope);
    let receipt = await attempt(
      `Cannot submit transaction ${txId}`,
      () => client.submit(envelope),
    );
    if (flags.wait && receipt.status !== "committed") {
      receipt = await attempt(
        `Cannot confirm transaction ${txId}`,
        () => client.waitForCommit(txId, { timeoutMs }),
      );
    }
    ctx.out(flags.json ? JSON.stringify(receipt) : formatReceipt(receipt));
    if (flags.wait && receipt.result?.status === "rejected") {
      ctx.note(
        `Transaction ${txId} was committed, but its contract rejected it` +
          `${receipt.result.code ? ` (${receipt.result.code})` : ""}` +
          `${receipt.result.detail ? `: ${receipt.result.detail}` : ""}`,
      );
      return 1;
    }
    return 0;
  },
});

const txGet = command({
  name: "tx get",
  usage: "tx get TXID [--consistency LEVEL] [--min-height N]",
  summary: "A transaction's envelope and receipt",
  description: [
    "Shows GET /v1/txs/{TXID}: the signed envelope as submitted, and its receipt. --min-height N:",
    "each --url site is asked once and waits up to 5 s for block N; exit 1 when none has it.",
  ].join("\n"),
  arity: [1, 1],
  argNames: ["TXID (the transaction id)"],
  flags: { ...READ_FLAGS, ...SITE_FLAGS, ...jsonFlag("print the site's answer as it came (JSON)") },
  async run(ctx, flags, [id]) {
    const txId = txIdOf(id);
    const consistency = consistencyOf(flags.consistency);
    const at = minHeightOf(flags["min-height"]);
    const client = readClient(ctx.io, flags, at);
    const res = await attempt(
      `Cannot read transaction ${txId}`,
      () => client.request(ROUTES.getTx, { params: { txId }, query: { consistency } }, at),
    );
    ctx.out(flags.json ? res.text : formatTx(res.body));
    return 0;
  },
});

// ---- proofs and trust ----------------------------------------------------------

const proof = command({
  name: "proof",
  usage: "proof TXID [--out FILE [--force]] [--timeout 10s]",
  summary: "Fetch a transaction's proof bundle, to verify offline",
  description: [
    "Fetches what proves that the transaction is in the ledger — its envelope and receipt, its",
    "inclusion proof against the latest co-signed checkpoint, the checkpoint, and the blocks",
    "from the transaction's block to the checkpoint's — and writes it as one JSON bundle",
    "(standard output, or FILE: refused if it exists, exit 2, unless --force). Nothing is",
    "verified here: verify checks the bundle, offline. A transaction committed after the latest",
    "checkpoint is asked for again until --timeout.",
  ].join("\n"),
  arity: [1, 1],
  argNames: ["TXID (the transaction id)"],
  flags: {
    out: { type: "string", value: "FILE", help: "write the bundle to FILE" },
    force: { type: "boolean", help: "with --out, replace FILE if it exists" },
    timeout: {
      type: "string",
      value: "DURATION",
      help: `how long to wait for a checkpoint that covers the transaction ` +
        `(default ${PROOF_WAIT_MS_DEFAULT / 1000}s)`,
    },
    ...SITE_FLAGS,
    ...jsonFlag(
      "with --out, print {file, txId, logIndex, height, treeSize, checkpointHeight} as JSON",
    ),
  },
  async run(ctx, flags, [id]) {
    const txId = txIdOf(id);
    const waitMs = flags.timeout === undefined
      ? PROOF_WAIT_MS_DEFAULT
      : parseDuration(flags.timeout, "--timeout", TIMEOUT_MS_MAX);
    if (flags.force && flags.out === undefined) throw new UsageError("Flag --force needs --out");
    const output = { what: "proof bundle", replace: flags.force };
    if (flags.out !== undefined) await checkOutput(flags.out, output);
    const { source, failures } = recordingSource(clientFrom(ctx.io, flags));
    const deadline = performance.now() + waitMs;
    let bundle: ReceiptBundle;
    for (;;) {
      // Only this attempt's failures are quoted: earlier ones are not kept.
      failures.length = 0;
      // A site that cannot be reached is a verdict (unavailable), not an exception.
      const got = await fetchReceiptBundle(source, txId);
      if (!("reason" in got)) {
        bundle = got;
        break;
      }
      if (got.reason !== "tx_not_committed" || performance.now() + PROOF_POLL_MS > deadline) {
        // The verdict's detail is its message without "Cannot verify …: ": the
        // subject is said here.
        throw new CliError(
          `Cannot fetch the proof of transaction ${txId}: ` +
            `${sayFailures(got.detail ?? got.message, failures)} (${got.reason})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, PROOF_POLL_MS));
    }
    const text = JSON.stringify(bundle, null, 2) + "\n";
    if (flags.out === undefined) {
      ctx.io.stdout(printable(text));
      return 0;
    }
    await writeOutput(flags.out, text, output);
    const cp = parseCheckpoint(parseNote(bundle.checkpoint).text);
    const summary = {
      file: flags.out,
      txId,
      logIndex: bundle.proof.logIndex,
      height: bundle.receipt.height,
      treeSize: cp.size,
      checkpointHeight: cp.height,
    };
    ctx.out(
      flags.json ? JSON.stringify(summary) : `Wrote the proof of transaction ${txId} to ` +
        `${flags.out}: log index ${summary.logIndex} (block ${summary.height}) in the ` +
        `checkpoint of ${transactions(cp.size)} at height ${cp.height}`,
    );
    return 0;
  },
});

const verify = command({
  name: "verify",
  usage: "verify BUNDLE|- --trust FILE [--state FILE [--url URL]] [--applied]",
  summary: "Verify a proof bundle offline against a trust file",
  description: [
    "Verifies a proof bundle (from proof), asking no site (but see --state) and trusting only the",
    "trust file (from trust init): the checkpoint must carry valid signatures of a quorum of the",
    "trusted site keys and be of the trusted origin; the leaf must hold the transaction, with",
    "valid signatures, and match its receipt; the RFC 9162 inclusion proof must lead to the",
    "checkpoint's root; and the blocks must chain from the transaction's block to the",
    "checkpoint's. Exits 0 when all hold, 1 with the first failure and its reason code otherwise.",
    "Without --state it keeps nothing between runs, so a rolled-back or forked log goes unnoticed.",
    "With --state FILE it keeps the largest checkpoint it verified in FILE (made on the first run)",
    "and checks each bundle's checkpoint against it: the same tree, or one an RFC 9162",
    "consistency proof shows extends it (or that it extends, for an older bundle); otherwise",
    "exit 1 (checkpoint_fork, consistency_proof_invalid) and FILE is left as it was. Only when",
    "the trees differ is a site asked, for the consistency proof alone (--url, as for the other",
    "commands); what it answers is checked against both roots, so it is not trusted.",
    "A transaction its contract rejected is in the ledger too (exit 0, its result says so); with",
    "--applied, verify exits 1 for it, for a script that must go on only with an applied one.",
    "BUNDLE - or --trust - reads that file from standard input (one of them: it is read once).",
  ].join("\n"),
  arity: [1, 1],
  argNames: ["BUNDLE (the proof bundle, or - for standard input)"],
  flags: {
    trust: {
      type: "string",
      value: "FILE",
      help: "the trust file: site keys, quorum, origin (required; - reads it from standard input)",
    },
    state: {
      type: "string",
      value: "FILE",
      help: "keep the largest verified checkpoint in FILE and check each bundle's against it",
    },
    applied: {
      type: "boolean",
      help: "exit 1 unless the transaction's contract applied it (not rejected)",
    },
    ...SITE_FLAGS,
    ...jsonFlag(
      "print the light client's verdict as JSON, its message the sentences printed without it",
    ),
  },
  async run(ctx, flags, [path]) {
    const trustPath = required(flags.trust, "--trust");
    if (flags.state === undefined && (flags.url.length > 0 || flags["api-key"] !== undefined)) {
      throw new UsageError(
        `Flag ${flags.url.length > 0 ? "--url" : "--api-key"} needs --state: ` +
          "without it verify asks no site",
      );
    }
    // Standard input can be read once: a second reader would find it empty.
    if (path === "-" && trustPath === "-") {
      throw new UsageError("Only one of BUNDLE - and --trust - can read standard input");
    }
    // The state file's folder is never made: a missing one is a mistake in
    // the command, said before anything is read.
    if (flags.state !== undefined) {
      await checkFolder(`Cannot use the state file ${flags.state}`, flags.state);
    }
    const bundle = await readJsonInput(ctx.io, path, "proof bundle");
    if (!isBundleShaped(bundle)) {
      throw new CliError(
        `Cannot read the proof bundle ${inputName(path)}: ` +
          "not a proof bundle (an object with txId, tx, receipt, proof and checkpoint)",
      );
    }
    const trust = await readTrustFile(ctx, trustPath);
    const state = flags.state === undefined ? undefined : await openStateFile(flags.state);
    // A site is reached only for a consistency proof; a permission to reach
    // it that is missing is a usage matter (exit 2), not a verdict.
    let refused: unknown;
    const failures: EdgeLedgerError[] = [];
    const proofs = state === undefined ? undefined : consistencySource(() => {
      try {
        return clientFrom(ctx.io, flags);
      } catch (e) {
        refused = e;
        throw e;
      }
    }, failures);
    const light = new LightClient({
      trustedKeys: trust.trustedKeys,
      retiredKeys: trust.retiredKeys,
      quorum: trust.quorum,
      origin: trust.origin,
      store: state,
      source: proofs,
    });
    let verdict;
    try {
      verdict = await light.verifyBundle(bundle);
    } catch (e) {
      // What a site sends is a verdict, never an exception: this is the file's.
      if (refused !== undefined || state === undefined) throw refused ?? e;
      throw new CliError(`Cannot use the state file ${flags.state}: ${(e as Error).message}`);
    }
    if (refused !== undefined) throw refused;
    if (!verdict.ok) {
      // A site's failure quoted as the other commands say it ("connection refused").
      verdict = {
        ...verdict,
        message: sayFailures(verdict.message, failures),
        ...(verdict.detail === undefined ? {} : { detail: sayFailures(verdict.detail, failures) }),
      };
      if (flags.json) ctx.out(JSON.stringify(verdict));
      const rotated = verdict.reason === "checkpoint_quorum_not_met"
        ? signedByUnknownKeys(bundle.checkpoint, trust)
        : [];
      ctx.note(
        formatVerdictFailure(verdict) +
          (rotated.length === 0 ? "" : `; ${rotationHint(rotated, inputName(trustPath))}`),
      );
      return 1;
    }
    // Said from the verdict's fields: a fresh light client's message would
    // call the checkpoint "the first this client trusts", yet without
    // --state none is kept.
    const message = formatVerified(verdict, trust.quorum, flags.state);
    ctx.out(
      flags.json ? JSON.stringify({ ...verdict, message: message.replaceAll("\n", " ") }) : message,
    );
    const result = verdict.result as { status?: unknown } | undefined;
    if (flags.applied && result?.status !== "applied") {
      ctx.note(
        `Transaction ${verdict.txId} is in the ledger, but its contract did not apply it ` +
          "(--applied asks for an applied one)",
      );
      return 1;
    }
    return 0;
  },
});

/**
 * The state file of `verify --state`: a {@link FileTrustStore} at `path`,
 * once what it holds (if anything) reads as a checkpoint. Needs the read and
 * write permissions for it and for its lock file beside it, and the env
 * permission, which the lock's file-system module reads its settings with
 * (so it is loaded only here, and `verify` without `--state` runs without).
 */
async function openStateFile(path: string): Promise<FileTrustStore> {
  const action = `Cannot use the state file ${path}`;
  requirePermissions(action, [
    { name: "read", path },
    { name: "write", path },
    { name: "write", path: `${path}.lock` },
    { name: "env" },
  ]);
  // Read here first, to say what is wrong with it in a line of its own: the
  // store's parse error quotes the file (which may hold anything, over
  // lines), and a folder there is node:fs's EISDIR, no Deno error.
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    // Nothing there yet: the first run makes it.
    if (!(e instanceof Deno.errors.NotFound)) throw new CliError(`${action}: ${fileErrorText(e)}`);
  }
  if (info !== undefined) {
    if (!info.isFile) throw new CliError(`${action}: not a file`);
    if (info.size > INPUT_BYTES_MAX) {
      throw new CliError(`${action}: larger than ${INPUT_BYTES_MAX} bytes`);
    }
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new CliError(`${action}: ${fileErrorText(e)}`);
    }
    try {
      JSON.parse(text);
    } catch {
      throw new CliError(`${action}: not JSON`);
    }
  }
  const { FileTrustStore } = await import("../../sdk/light/file_trust_store.ts");
  const store = new FileTrustStore(path);
  try {
    await store.load();
  } catch (e) {
    const why = (e as Error).message.replace(/^Cannot read trusted checkpoint \S+: /, "");
    const notAFile = e instanceof Deno.errors.IsADirectory ||
      (e as { code?: unknown }).code === "EISDIR";
    throw new CliError(`${action}: ${notAFile ? "not a file" : why}`);
  }
  return store;
}

/**
 * A {@link LightSource} that serves consistency proofs only, from the
 * client `connect` makes when the first one is asked for: verifying a
 * bundle needs nothing else from a site. Each client error is kept in
 * `failures`, as {@link recordingSource} keeps them.
 */
function consistencySource(
  connect: () => EdgeLedgerClient,
  failures: EdgeLedgerError[],
): LightSource {
  let client: EdgeLedgerClient | undefined;
  const unused = (): never => {
    throw new Error("verify asks a site for consistency proofs only");
  };
  return {
    consistency: (from, to, options) =>
      kept(failures, () => (client ??= connect()).consistency(from, to, options)),
    checkpoint: unused,
    getTx: unused,
    proof: unused,
    blocks: unused,
  };
}

/**
 * `client` as a {@link LightSource} that keeps each client error it throws
 * in `failures`: a light client's verdict quotes only a failure's message,
 * and the command line says some of them its own way ({@link sayFailures}).
 */
function recordingSource(
  client: EdgeLedgerClient,
): { source: LightSource; failures: EdgeLedgerError[] } {
  const failures: EdgeLedgerError[] = [];
  return {
    failures,
    source: {
      checkpoint: (options) => kept(failures, () => client.checkpoint(options)),
      consistency: (from, to, options) =>
        kept(failures, () => client.consistency(from, to, options)),
      getTx: (txId, options) => kept(failures, () => client.getTx(txId, options)),
      proof: (txId, options) => kept(failures, () => client.proof(txId, options)),
      async *blocks(options) {
        try {
          yield* client.blocks(options);
        } catch (e) {
          if (e instanceof EdgeLedgerError) failures.push(e);
          throw e;
        }
      },
    },
  };
}

/** Runs `call`; a client error it throws is added to `failures`, then thrown on. */
async function kept<T>(failures: EdgeLedgerError[], call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof EdgeLedgerError) failures.push(e);
    throw e;
  }
}

/**
 * `text` (a verdict's message or detail, which quotes the messages of the
 * client errors it came from) with each of `failures`' messages as the
 * command line says them ({@link errorMessage}: "connection refused", not
 * Deno's words; another server's page in one short line), on one line.
 */
function sayFailures(text: string, failures: readonly EdgeLedgerError[]): string {
  let said = text;
  for (const e of failures) said = said.replace(e.message, () => errorMessage(e));
  return said.replace(/\s*\n\s*/g, " ");
}

/**
 * The trusted sites that signed `checkpoint` with a key `trust` does not
 * hold for them (neither trusted nor retired): after a key rotation, a trust
 * file not updated since counts their signatures no more.
 */
function signedByUnknownKeys(checkpoint: string, trust: TrustConfig): string[] {
  let lines;
  try {
    lines = parseNote(checkpoint).signatures;
  } catch {
    return [];
  }
  const known = [...trust.trustedKeys, ...(trust.retiredKeys ?? []).map((r) => r.key)]
    .map((k) => parseVerifierKey(k));
  const names = new Set(known.map((k) => k.name));
  const unknown = lines.filter((l) =>
    names.has(l.name) &&
    !known.some((k) => k.name === l.name && hexEncode(k.keyHash) === hexEncode(l.keyHash))
  ).map((l) => l.name);
  return [...new Set(unknown)];
}

/** The hint after `checkpoint_quorum_not_met` when trusted sites signed with keys `file` lacks. */
function rotationHint(names: readonly string[], file: string): string {
  const target = file === "from standard input" ? "FILE" : file;
  return `${names.join(", ")} signed with ${
    names.length === 1 ? "a key" : "keys"
  } the trust file does not hold: if ${
    names.length === 1 ? "it" : "they"
  } rotated (member rotate-key), run trust update ${target}`;
}

function isBundleShaped(value: unknown): value is ReceiptBundle {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const b = value as Record<string, unknown>;
  return typeof b.txId === "string" && typeof b.checkpoint === "string" &&
    typeof b.tx === "object" && b.tx !== null && typeof b.receipt === "object" &&
    b.receipt !== null && typeof b.proof === "object" && b.proof !== null;
}

async function readTrustFile(ctx: Context, path: string): Promise<TrustConfig> {
  const value = await readJsonInput(ctx.io, path, "trust file");
  try {
    return parseTrustConfig(value);
  } catch (e) {
    if (e instanceof TrustConfigError) {
      throw new CliError(`Cannot read the trust file ${path}: ${e.message}`);
    }
    throw e;
  }
}

const trustInit = command({
  name: "trust init",
  usage: "trust init (--url URL | --genesis FILE) --out FILE [--quorum N] [--force]",
  summary: "Write a trust file from a site's member list or from the genesis",
  description: [
    "Writes the trust file verify needs: the site keys to trust, how many must sign a checkpoint",
    "(default: a majority of them) and the log's origin. Refuses an existing FILE (exit 2) unless",
    "--force.",
    "",
    "--genesis FILE takes every site key from the consortium's genesis file: as good as the copy",
    "you hold (sites added or removed since genesis are not in it).",
    "",
    "--url takes the voting sites' keys from GET /v1/sites of that site (trust on first use): the",
    "file is only as good as that URL and the connection to it. A site that lies here can make",
    "verify accept its forgeries, so compare the keys with your consortium's configuration.",
  ].join("\n"),
  arity: [0, 0],
  argNames: [],
  flags: {
    genesis: { type: "string", value: "FILE", help: "the consortium's genesis.json" },
    out: { type: "string", value: "FILE", help: "where to write the trust file (required)" },
    quorum: {
      type: "string",
      value: "N",
      help: "signatures a checkpoint needs (default: majority)",
    },
    force: { type: "boolean", help: "replace FILE if it exists" },
    url: {
      type: "string",
      multiple: true,
      value: "URL",
      help: "the site whose member list to trust (trust on first use; repeat for failover)",
    },
    "api-key": SITE_FLAGS["api-key"],
    ...jsonFlag("print the trust file written, as JSON"),
  },
  async run(ctx, flags) {
    if ((flags.url.length > 0) === (flags.genesis !== undefined)) {
      throw new UsageError(
        "Give either --url (trust the keys a site serves) or --genesis FILE (trust the genesis)",
      );
    }
    const out = required(flags.out, "--out");
    const quorum = flags.quorum === undefined ? undefined : parseCount(flags.quorum, "--quorum");
    if (quorum === 0) throw new UsageError("Flag --quorum must be at least 1");
    const output = { what: "trust file", replace: flags.force };
    await checkOutput(out, output);
    // Built with the default quorum first: a --quorum above the keys found is
    // a usage error (exit 2), said once their number is known.
    let trust: TrustConfig;
    if (flags.genesis !== undefined) {
      const genesis = await readJsonInput(ctx.io, flags.genesis, "genesis");
      trust = trustOrFail(() => trustConfigFromGenesis(genesis));
    } else {
      // A site that was removed from the cluster still runs and answers, with
      // the member list it had then: the next --url site is asked instead.
      const asked = await siteThatKnowsTheLeader(
        clientFrom(ctx.io, flags),
        apiKeyHeaders(ctx.io, flags),
        "Cannot read the site's status",
      );
      const status = asked.status.body;
      const site = asked.status.site;
      if (status.removed === true) {
        // Its keys are a stale view (its own among them): a trust file made
        // from it could trust a site the cluster no longer counts.
        throw new CliError(
          `Cannot build the trust file: ${status.site} (${site}) was removed from the cluster, ` +
            "so its member list is stale: pass a member's URL with --url",
        );
      }
      const client = asked.client;
      const members = await attempt("Cannot read the member sites", () => client.sites());
      const voters = (status as { voters?: unknown }).voters;
      let origin = status.origin;
      if (origin === undefined) {
        const note = await attempt("Cannot read the checkpoint", () => client.checkpoint());
        origin = trustOrFail(() => parseCheckpoint(parseNote(note).text).origin);
      }
      trust = trustOrFail(() =>
        trustConfigFromSites(members, {
          origin: origin!,
          voters: Array.isArray(voters) && voters.every((v) => typeof v === "string")
            ? voters
            : undefined,
        })
      );
      ctx.note(
        `Trusting the site keys ${site} served (trust on first use): the trust file ` +
          "is only as good as that URL; check the keys against your consortium's genesis",
      );
    }
    if (quorum !== undefined) {
      const sites = new Set(trust.trustedKeys.map((k) => k.slice(0, k.indexOf("+")))).size;
      if (quorum > sites) {
        throw new UsageError(
          `Flag --quorum must be at most ${sites} (the site keys the trust file would hold), ` +
            `not ${quorum}`,
        );
      }
      trust = trustOrFail(() => parseTrustConfig({ ...trust, quorum }));
    }
    await writeOutput(out, JSON.stringify(trust, null, 2) + "\n", output);
    const names = trust.trustedKeys.map((k) => k.slice(0, k.indexOf("+")));
    ctx.out(
      flags.json ? JSON.stringify(trust) : `Wrote ${out}: ${names.length} site key(s) ` +
        `(${names.join(", ")}), quorum ${trust.quorum}, origin ${trust.origin}`,
    );
    return 0;
  },
});

const trustUpdate = command({
  name: "trust update",
  usage: "trust update FILE [--url URL …]",
  summary: "Follow the trusted sites' key rotations into a trust file",
  description: wrap(
    "Brings the trust file FILE up to date with the key rotations of the sites it trusts " +
      "(member rotate-key): for each trusted site whose key in GET /v1/sites is another one, it " +
      "reads the site's rotations (GET /v1/sites/NAME/keys) and follows them from the key FILE " +
      "trusts, checking each step's two signatures (the retired key's and the new key's); when " +
      "they lead to the site's key now, that key replaces the trusted one. The key it replaces " +
      "is kept in retiredKeys for the checkpoints up to the last block it signed, once the site " +
      "has signed that height with its new key (moments after the rotation; until then the site " +
      "keeps its old key and is named on standard error, exit 1: run it again), so receipts " +
      "made before the rotation still verify. Nothing is taken on the site's word: a key is " +
      "trusted only through signatures of a key FILE trusts already. Sites FILE does not trust " +
      "are never added, and a site whose key no chain reaches (a step that does not verify, " +
      "say) keeps its old key and is named on standard error (exit 1): check it out of band. " +
      "FILE is replaced whole (mode 0600) only when a key changed; it is a file, never " +
      "standard input.",
  ),
  arity: [1, 1],
  argNames: ["FILE (the trust file)"],
  flags: {
    ...SITE_FLAGS,
    ...jsonFlag(
      "print {trust, rotated, pending, unreachable, unlisted, file} as JSON (trust: what FILE holds)",
    ),
  },
  async run(ctx, flags, [path]) {
    // FILE is read and then replaced: standard input cannot be replaced.
    if (path === "-") {
      throw new UsageError("FILE cannot be - (standard input): trust update replaces it in place");
    }
    const trust = await readTrustFile(ctx, path);
    const client = clientFrom(ctx.io, flags);
    const sites = await attempt("Cannot read the member sites", () => client.sites());
    const update = await attempt(
      "Cannot read a site's keys",
      () => followKeyRotations(trust, sites, (name) => client.siteKeys(name)),
    );
    if (update.rotated.length > 0) {
      // A trust file says which sites to believe: only its owner may change it.
      await writeOutput(path, JSON.stringify(update.trust, null, 2) + "\n", {
        what: "trust file",
        replace: true,
        mode: 0o600,
      });
    }
    if (flags.json) {
      ctx.out(JSON.stringify({ ...update, file: path }));
    } else {
      for (const r of update.rotated) {
        const heights = r.retired.map((k) => k.untilHeight);
        const kept = heights.length === 0
          ? " (the retired key's signed last block does not verify: not kept)"
          : heights.length === 1
          ? ` (the retired key counts for checkpoints up to block ${heights[0]})`
          : ` (the retired keys count for checkpoints up to blocks ${heights.join(", ")})`;
        ctx.out(`${r.name}: ${r.from} → ${r.to}${kept}`);
      }
      ctx.out(
        update.rotated.length > 0
          ? `Updated ${path}: ${update.rotated.length} key(s) followed to their rotated keys`
          : update.pending.length > 0
          ? `${path} is unchanged`
          : `${path} is up to date: no trusted site rotated its key`,
      );
      if (update.unlisted.length > 0) {
        ctx.note(`Not in the member list (kept): ${update.unlisted.join(", ")}`);
      }
    }
    if (update.pending.length > 0) {
      ctx.note(
        `Rotated moments ago, the last block of the key they retired not signed yet: ` +
          `${update.pending.join(", ")} (kept as they were; run trust update again shortly)`,
      );
    }
    if (update.unreachable.length > 0) {
      ctx.note(
        `No chain of rotations leads from the trusted key to the key now of: ` +
          `${update.unreachable.join(", ")} (kept as they were; check them out of band)`,
      );
    }
    return update.pending.length + update.unreachable.length > 0 ? 1 : 0;
  },
});

function trustOrFail<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new CliError(`Cannot build the trust file: ${(e as Error).message}`);
  }
}

// ---- events --------------------------------------------------------------------

const watch = command({
  name: "watch",
  usage: "watch [--kinds K1,K2] [--signer DID] [--from HEIGHT]",
  summary: "Follow committed blocks as they happen (Ctrl-C stops)",
  description: [
    "Prints each committed block as it happens (one line, then one line per transaction), from",
    "the block after the current head or from --from. With --kinds or --signer, only blocks with",
    "a matching transaction, and only the matches (--signer is checked as a did:key first).",
    "Reconnects (failing over between --url sites) and resumes after the last block it printed,",
    "so no block is missed or repeated; standard error says once where it starts, then one line",
    "when the connection drops and one when it is back, never one per retry. Ctrl-C stops it",
    "(exit 0). Run through npx (npx -y deno@2.9.6 task cli watch), the shell sees 130 instead:",
    "npm itself dies of the signal; deno task cli or deno run exits 0. --json prints one block",
    "event per line.",
  ].join("\n"),
  arity: [0, 0],
  argNames: [],
  flags: {
    kinds: {
      type: "string",
      value: "K1,K2",
      help: "only these transaction kinds (as tx sign --help lists them)",
    },
    signer: { type: "string", value: "DID", help: "only transactions signed by this did:key" },
    from: { type: "string", value: "HEIGHT", help: "start at this height (0: the whole chain)" },
    ...SITE_FLAGS,
    ...jsonFlag("print each block event as JSON, one a line"),
  },
  async run(ctx, flags) {
    let kinds: string[] | undefined;
    if (flags.kinds !== undefined) {
      kinds = flags.kinds.split(",").map((k) => k.trim()).filter((k) => k !== "");
      if (kinds.length === 0) throw new UsageError("Flag --kinds names no kind");
      // The site filters by any name it is given, so a misspelt kind would
      // watch nothing, silently and for ever: refuse it, as tx sign does.
      const unknown = kinds.filter((k) => !(knownKinds() as string[]).includes(k));
      if (unknown.length > 0) {
        throw new UsageError(
          `Flag --kinds names an unknown kind ${
            unknown.map((k) => `"${k}"`).join(", ")
          }; the kinds are ${knownKinds().join(", ")}`,
        );
      }
    }
    if (flags.signer !== undefined) {
      try {
        decodeDidKey(flags.signer);
      } catch (e) {
        if (!(e instanceof DidKeyError)) throw e;
        throw new UsageError(
          `Flag --signer must be a did:key, not "${flags.signer}" (${e.message})`,
        );
      }
    }
    const fromHeight = flags.from === undefined ? undefined : parseCount(flags.from, "--from");
    const notes = new ConnectionNotes((line) => ctx.note(line));
    const client = clientFrom(ctx.io, flags);
    const stop = new AbortController();
    const release = ctx.io.onInterrupt(() => stop.abort());
    try {
      const events = client.subscribe({
        kinds,
        signer: flags.signer,
        fromHeight,
        signal: stop.signal,
        onConnect: (site, after) => notes.connecting(site, after),
        onOpen: () => notes.opened(),
      });
      await attempt("Cannot follow the committed blocks", async () => {
        for await (const event of events) {
          ctx.out(flags.json ? JSON.stringify(event) : formatBlockEvent(event));
        }
      });
    } finally {
      release();
    }
    return 0;
  },
});

// ---- operators: membership, leadership, backups ------------------------------------

const ADMIN_KEY_FLAG = {
  "admin-key-file": {
    type: "string",
    value: "FILE",
    help: `a file holding the admin API key (else the key itself from $${ADMIN_KEY_ENV}); - ` +
      "reads it from standard input; the key itself is never a flag, which would land in shell " +
      "history",
  },
} as const;

/** The paragraph every command that needs the admin key ends its help with. */
const ADMIN_KEY_HELP = wrap(
  "It needs the admin API key: from --admin-key-file FILE (task start writes " +
    "data/admin-api-key.txt; - reads it from standard input), else the key itself from " +
    `$${ADMIN_KEY_ENV}. No flag takes the key itself: a flag's value lands in shell history ` +
    "and in ps.",
);

/** The paragraph of the commands that find the leader themselves. */
const LEADER_HELP = [
  "Changes are made by the leader, which it finds itself: it asks the first --url site that",
  "answers for GET /v1/status (passing over one that was removed from the cluster or knows no",
  "leader, for the next) and, when that site does not lead, takes the leader's URL from its",
  "GET /v1/sites; the admin key goes to the leader only. A site that has just lost leadership",
  "answers 503 not_leader with the new leader's URL, which it follows once. Each change is sent",
  "once, never repeated: after a lost answer, or a 504 commit_timeout (proposed, not applied in",
  "time: it may still take effect), run member list to see whether it was made.",
].join("\n");

/**
 * Runs an admin change: reads the admin key (before any request), finds the
 * leader through `--url` ({@link leaderForChange}), and sends `route` to it
 * ({@link callLeader}). Resolves to the base URL of the site that made the
 * change.
 */
async function adminChange<R extends RouteDefinition>(
  ctx: Context,
  flags: { url: string[]; "api-key": string | undefined; "admin-key-file": string | undefined },
  action: string,
  route: R,
  input: RequestInput<R>,
): Promise<string> {
  const adminKey = await adminKeyFrom(ctx.io, flags["admin-key-file"], (l) => ctx.note(l));
  const client = clientFrom(ctx.io, flags);
  const target = await leaderForChange(client, action, apiKeyHeaders(ctx.io, flags));
  return (await callLeader(target.url, adminKey, route, input, action)).site;
}

const memberList = command({
  name: "member list",
  usage: "member list [--url URL …]",
  summary: "The members: voters and learners, URLs, who leads, each one's match index and lag",
  description: [
    "Lists the member sites: each one's role (voter or learner), URL (from GET /v1/sites), and,",
    "from the leader's GET /v1/status, the leader's match index of it and how many entries it is",
    "behind the commit index (its lag: a learner is ready to promote once it is about 0). It asks",
    "the first --url site that answers and, when that is not the leader, the leader it names.",
    "Without a leader to ask, it shows that site's view, without match and lag, and says why on",
    "standard error. Needs no admin key: these are public reads.",
  ].join("\n"),
  arity: [0, 0],
  argNames: [],
  flags: {
    ...SITE_FLAGS,
    ...jsonFlag(
      "print {leader, term, commitIndex, site, fromLeader, members} as JSON (made by the command)",
    ),
  },
  async run(ctx, flags) {
    const client = clientFrom(ctx.io, flags);
    const view = await readMembers(client, apiKeyHeaders(ctx.io, flags), (l) => ctx.note(l));
    ctx.out(flags.json ? JSON.stringify(view) : formatMembers(view));
    return 0;
  },
});

/** `--peer-url`, required, as an http(s) URL: a member's URL as the other sites reach it. */
function peerUrlOf(flags: { "peer-url"?: string }): string {
  const peerUrl = required(flags["peer-url"], "--peer-url");
  if (httpHost(peerUrl) === undefined) {
    throw new UsageError(`Flag --peer-url must be an http:// or https:// URL, not "${peerUrl}"`);
  }
  return peerUrl;
}

const memberAdd = command({
  name: "member add",
  usage: "member add NAME --peer-url URL (--public-key B64URL | --key-file FILE)",
  summary: "Add a site as a non-voting learner (admin key)",
  description: [
    "Adds the site NAME, reachable by the other sites at --peer-url, as a learner: it receives",
    "the log (by snapshot when it is far behind) but does not vote. Start the new site first",
    '(its site.json with "join": true); promote it once member list shows it caught up.',
    "",
    "Its public key comes from --public-key (base64url, as task sitekey prints it) or from its key",
    "file, --key-file (the private JWK task sitekey writes: only its public part, x, is sent, once",
    "the SDK has checked that it matches the private key; nothing of the key is ever printed).",
    "",
    "--peer-url is the new site's URL; --url, as everywhere, names the sites to ask.",
    "",
    LEADER_HELP,
    "",
    ADMIN_KEY_HELP,
  ].join("\n"),
  arity: [1, 1],
  argNames: ["NAME (the new site's name)"],
  flags: {
    "peer-url": {
      type: "string",
      value: "URL",
      help: "the new site's URL, as the other sites reach it (required)",
    },
    "public-key": {
      type: "string",
      value: "B64URL",
      help: "the new site's Ed25519 public key, base64url",
    },
    "key-file": {
      type: "string",
      value: "FILE",
      help: "the new site's key file (task sitekey's; - for standard input); only its public key " +
        "is read out",
    },
    ...ADMIN_KEY_FLAG,
    ...SITE_FLAGS,
    ...jsonFlag("print the change made as JSON: {change, name, role, url, publicKey, site}"),
  },
  async run(ctx, flags, [nameArg]) {
    const name = siteNameOf(nameArg);
    const peerUrl = peerUrlOf(flags);
    // Standard input can be read once: a second reader would find it empty.
    if (flags["key-file"] === "-" && flags["admin-key-file"] === "-") {
      throw new UsageError(
        "Only one of --key-file - and --admin-key-file - can read standard input",
      );
    }
    const publicKey = await memberPublicKey(ctx.io, flags, (l) => ctx.note(l));
    const madeBy = await adminChange(
      ctx,
      flags,
      `Cannot add site ${name}`,
      ADMIN_ROUTES.addMember,
      { body: { name, url: peerUrl, publicKey } },
    );
    if (flags.json) {
      ctx.out(
        JSON.stringify({
          change: "add",
          name,
          role: "learner",
          url: peerUrl,
          publicKey,
          site: madeBy,
        }),
      );
    } else {
      ctx.out(`Added ${name} (${peerUrl}) as a learner, public key ${publicKey}`);
      ctx.note(
        `${name} now catches up from the others; promote it (member promote ${name}) once ` +
          "member list shows its lag at about 0",
      );
    }
    return 0;
  },
});

const memberPromote = command({
  name: "member promote",
  usage: "member promote NAME",
  summary: "Make a caught-up learner a voter (admin key)",
  description: [
    "Promotes the learner NAME to voter. The leader refuses (409 conflict, exit 1) while another",
    "membership change is under way or the learner has not caught up: see member list. A NAME",
    "that is no member is 404 not_found (exit 1).",
    "",
    LEADER_HELP,
    "",
    ADMIN_KEY_HELP,
  ].join("\n"),
  arity: [1, 1],
  argNames: ["NAME (the learner)"],
  flags: {
    ...ADMIN_KEY_FLAG,
    ...SITE_FLAGS,
    ...jsonFlag("print the change made as JSON: {change, name, role, site}"),
  },
  async run(ctx, flags, [nameArg]) {
    const name = siteNameOf(nameArg);
    const madeBy = await adminChange(
      ctx,
      flags,
      `Cannot promote site ${name}`,
      ADMIN_ROUTES.promoteMember,
      { params: { name } },
    );
    ctx.out(
      flags.json
        ? JSON.stringify({ change: "promote", name, role: "voter", site: madeBy })
        : `Promoted ${name} to voter`,
    );
    return 0;
  },
});

const memberRemove = command({
  name: "member remove",
  usage: "member remove NAME",
  summary: "Remove a site from the cluster (admin key)",
  description: [
    "Removes the site NAME, voter or learner. From the moment a site applies its removal, that",
    "site refuses its key. Removing the leader works too (it steps down once its removal",
    "commits), but moving leadership away first (leader transfer) spares the cluster an election.",
    "A NAME that is no member is 404 not_found (exit 1).",
    "",
    LEADER_HELP,
    "",
    ADMIN_KEY_HELP,
  ].join("\n"),
  arity: [1, 1],
  argNames: ["NAME (the site to remove)"],
  flags: {
    ...ADMIN_KEY_FLAG,
    ...SITE_FLAGS,
    ...jsonFlag("print the change made as JSON: {change, name, site}"),
  },
  async run(ctx, flags, [nameArg]) {
    const name = siteNameOf(nameArg);
    const madeBy = await adminChange(
      ctx,
      flags,
      `Cannot remove site ${name}`,
      ADMIN_ROUTES.removeMember,
      { params: { name } },
    );
    ctx.out(
      flags.json
        ? JSON.stringify({ change: "remove", name, site: madeBy })
        : `Removed ${name} from the cluster`,
    );
    return 0;
  },
});

const memberUpdate = command({
  name: "member update",
  usage: "member update NAME --peer-url URL",
  summary: "Move a member to a new URL (admin key)",
  description: [
    "Tells the cluster that the member NAME is now reached at --peer-url, as etcdctl member update",
    "does: the new URL goes through the log, so every site (and a site that joins later) sends",
    "to it from then on; its key stays the same. Then restart NAME at the new address (its",
    "site.json's url and port): until then the others cannot reach it. A URL the member has",
    "already (in the leader's member list) changes nothing, and says so.",
    "",
    "--peer-url is the member's new URL; --url, as everywhere, names the sites to ask.",
    "",
    LEADER_HELP,
    "",
    ADMIN_KEY_HELP,
  ].join("\n"),
  arity: [1, 1],
  argNames: ["NAME (the member that moves)"],
  flags: {
    "peer-url": {
      type: "string",
      value: "URL",
      help: "the member's new URL, as the other sites reach it (required)",
    },
    ...ADMIN_KEY_FLAG,
    ...SITE_FLAGS,
    ...jsonFlag(
      'print the change as JSON: {change ("update", or "none": nothing to change), name, url, site}',
    ),
  },
  async run(ctx, flags, [nameArg]) {
    const name = siteNameOf(nameArg);
    const peerUrl = peerUrlOf(flags);
    const action = `Cannot move site ${name}`;
    const adminKey = await adminKeyFrom(ctx.io, flags["admin-key-file"], (l) => ctx.note(l));
    const headers = apiKeyHeaders(ctx.io, flags);
    const target = await leaderForChange(clientFrom(ctx.io, flags), action, headers);
    // The leader's member list says whether there is anything to change (the
    // site answers a URL the member has already as any other: {ok: true}).
    const listed = await attempt(
      action,
      () => siteClient(target.url, headers, { once: true }).request(ROUTES.listSites, {}),
    );
    const already = listed.body.sites.find((m) => m.name === name)?.url === peerUrl;
    const madeBy = already ? listed.site : (await callLeader(
      target.url,
      adminKey,
      ADMIN_ROUTES.updateMember,
      { params: { name }, body: { url: peerUrl } },
      action,
    )).site;
    if (flags.json) {
      ctx.out(
        JSON.stringify({ change: already ? "none" : "update", name, url: peerUrl, site: madeBy }),
      );
    } else if (already) {
      ctx.out(`${name} is at ${peerUrl} already: nothing changed`);
    } else {
      ctx.out(`Moved ${name} to ${peerUrl}`);
      ctx.note(
        `Restart ${name} at ${peerUrl} (its site.json's url and port) if it is not there yet`,
      );
    }
    return 0;
  },
});

const leaderTransfer = command({
  name: "leader transfer",
  usage: "leader transfer NAME",
  summary: "Hand leadership to a voter (admin key)",
  description: [
    "Asks the leader to hand leadership to the voter NAME, and waits until NAME leads (the",
    "leader answers then; 409 conflict, exit 1, when NAME is not a voter (a learner must be",
    "promoted first), cannot take over now or did not take over in time). When NAME leads",
    "already, it says so and changes nothing.",
    "",
    LEADER_HELP,
    "",
    ADMIN_KEY_HELP,
  ].join("\n"),
  arity: [1, 1],
  argNames: ["NAME (the voter to lead)"],
  flags: {
    ...ADMIN_KEY_FLAG,
    ...SITE_FLAGS,
    ...jsonFlag(
      'print the change as JSON: {change ("transfer", or "none": NAME leads already), leader, previous, site}',
    ),
  },
  async run(ctx, flags, [nameArg]) {
    const name = siteNameOf(nameArg);
    const action = `Cannot hand leadership to ${name}`;
    const adminKey = await adminKeyFrom(ctx.io, flags["admin-key-file"], (l) => ctx.note(l));
    const client = clientFrom(ctx.io, flags);
    const target = await leaderForChange(client, action, apiKeyHeaders(ctx.io, flags));
    const from = target.status.leader;
    let site = target.url;
    if (from !== name) {
      site = (await callLeader(target.url, adminKey, ADMIN_ROUTES.transferLeader, {
        body: { to: name },
      }, action)).site;
    }
    if (flags.json) {
      // As member update says its no-op: "none" when NAME leads already.
      ctx.out(
        JSON.stringify({
          change: from === name ? "none" : "transfer",
          leader: name,
          previous: from,
          site,
        }),
      );
    } else {
      ctx.out(from === name ? `${name} leads already` : `Leadership moved from ${from} to ${name}`);
    }
    return 0;
  },
});

const memberRotateKey = command({
  name: "member rotate-key",
  usage: "member rotate-key NAME",
  summary: "Replace a member's site key with a new one it makes (admin key)",
  description: [
    "Asks the member NAME to rotate its own Ed25519 key, without leaving the cluster: it makes a",
    "new key, keeps it in its data folder (site-key.rotated.json, beside its database), signs the",
    "change with the old key and the new one, and the leader puts it in the log. The answer",
    "comes once NAME signs with the new key; from then on members take the old one only until",
    "they hear NAME sign with the new one, never on a checkpoint of a later block, and checkpoints",
    "up to that block stay verifiable with it. NAME's URL comes from the first --url",
    "site's GET /v1/sites; the admin key goes to NAME only. Refresh the trust files of offline",
    "verifiers afterwards (trust update FILE follows the rotation from the key they trust).",
    "",
    ADMIN_KEY_HELP,
  ].join("\n"),
  arity: [1, 1],
  argNames: ["NAME (the member whose key is replaced)"],
  flags: {
    ...ADMIN_KEY_FLAG,
    ...SITE_FLAGS,
    ...jsonFlag(
      "print the change made as JSON: {change, name, previous, publicKey, untilHeight, retirementSigned}",
    ),
  },
  async run(ctx, flags, [nameArg]) {
    const name = siteNameOf(nameArg);
    const action = `Cannot rotate the key of ${name}`;
    const adminKey = await adminKeyFrom(ctx.io, flags["admin-key-file"], (l) => ctx.note(l));
    const client = clientFrom(ctx.io, flags);
    const listed = await attempt(action, () => client.request(ROUTES.listSites, {}));
    const url = listed.body.sites.find((s) => s.name === name)?.url;
    if (url === undefined) {
      throw new CliError(`${action}: ${listed.site} lists no member of that name`);
    }
    const r = (await callLeader(url, adminKey, ADMIN_ROUTES.rotateSiteKey, {}, action)).body;
    ctx.out(
      flags.json
        ? JSON.stringify({
          change: "rotate-key",
          name,
          previous: r.previous,
          publicKey: r.publicKey,
          ...(r.untilHeight === undefined ? {} : { untilHeight: r.untilHeight }),
          ...(r.retirementSigned === undefined ? {} : { retirementSigned: r.retirementSigned }),
        })
        : `Rotated the key of ${name}: ${r.previous} → ${r.publicKey}` +
          (r.untilHeight === undefined
            ? ""
            : ` (the old key signed blocks up to ${r.untilHeight}; ` +
              (r.retirementSigned
                ? `${name} signed that height with its new key)`
                : `${name} signs that height with its new key shortly)`)),
    );
    if (!flags.json) {
      ctx.note(
        `Back up ${name}'s data folder's site-key.rotated.json with its database; refresh ` +
          "offline verifiers' trust files (trust update FILE)",
      );
    }
    return 0;
  },
});

const backup = command({
  name: "backup",
  usage: "backup --out FILE [--force] [--url URL …]",
  summary: "Download a consistent copy of a site's database (admin key)",
  description: [
    wrap(
      "Streams GET /v1/admin/backup of the first --url site that answers to FILE: a copy of " +
        "that site's database as of one commit, ending at a block, made while the site goes " +
        "on. FILE is written whole or not at all (mode 0600): a download that breaks off, " +
        `stalls for ${BACKUP_IDLE_MS_MAX / 1000} s or is interrupted leaves nothing; an ` +
        "existing FILE is refused (exit 2) unless --force. It prints what the copy holds, as " +
        "the site's answer says: height, head block hash, applied index, size. The copy is not " +
        "verified here: task restore verifies one before it puts it in place (and task " +
        "integrity checks a site's database).",
    ),
    "",
    ADMIN_KEY_HELP,
  ].join("\n"),
  arity: [0, 0],
  argNames: [],
  flags: {
    out: { type: "string", value: "FILE", help: "where to write the copy (required)" },
    force: { type: "boolean", help: "replace FILE if it exists" },
    ...ADMIN_KEY_FLAG,
    url: SITE_FLAGS.url,
    ...jsonFlag(
      "print what the copy holds as JSON: {file, site, filename, height, head, appliedIndex, bytes}",
    ),
  },
  async run(ctx, flags) {
    const out = required(flags.out, "--out");
    const output = { what: "backup", replace: flags.force };
    const urls = siteUrls(ctx.io, flags);
    await checkOutput(out, output);
    const adminKey = await adminKeyFrom(ctx.io, flags["admin-key-file"], (l) => ctx.note(l));
    const stop = new AbortController();
    const release = ctx.io.onInterrupt(() => stop.abort());
    let info;
    try {
      info = await downloadBackup(urls, adminKey, out, { ...output, signal: stop.signal });
    } finally {
      release();
    }
    ctx.out(flags.json ? JSON.stringify(info) : formatBackup(info));
    return 0;
  },
});

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [
  keyNew,
  keyShow,
  status,
  sites,
  checkpoint,
  txSign,
  txSubmit,
  txGet,
  proof,
  verify,
  trustInit,
  trustUpdate,
  watch,
  memberList,
  memberAdd,
  memberPromote,
  memberRemove,
  memberUpdate,
  memberRotateKey,
  leaderTransfer,
  backup,
];

/**
 * Every flag that takes a value, in any command, and the refused
 * {@link SECRET_FLAGS}: what lets the command's words be found among flags
 * given before them (`--url URL status`).
 */
export const VALUE_FLAGS: ReadonlySet<string> = new Set([
  ...COMMANDS.flatMap((c) =>
    Object.entries(c.flags).filter(([, f]) => f.type === "string").map(([name]) => name)
  ),
  // Refused, but their value is still not a command's word (nor quoted as one).
  ...Object.keys(SECRET_FLAGS),
]);
