// Whether a client and a daemon share a kernel, and so a machine's cores
// (another network namespace, a container): a pull's client then leaves
// the cores to the daemon's sending instead of starting writers (see
// `pullWriters` in lib/client/pull.ts). Told by the kernel's boot id,
// which neither side reveals: the client sends a random salt and the
// SHA-256 of the salt and its boot id; the daemon hashes its own with the
// same salt and says whether they match.

/** Where Linux tells its boot id (a random UUID per boot). */
const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";
/** The sandboxed daemon's boot id, read by the process that starts it. */
export const BOOT_ID_ENV = "BLIT_DAEMON_BOOT_ID";
const SALT_BYTES = 16;
const TAG_BYTES = SALT_BYTES + 32;

/**
 * This kernel's boot id, or undefined where it can't be read (not Linux,
 * or no permission: never prompts). `BLIT_DAEMON_BOOT_ID` stands in for
 * it in the sandboxed daemon, which may not read /proc.
 *
 * Permissions: env (BLIT_DAEMON_BOOT_ID) and read on
 * /proc/sys/kernel/random/boot_id, each where granted.
 *
 * @example
 * ```ts
 * import { bootId } from "@blit/cli/internals";
 * const id = bootId();
 * if (id !== undefined && !/^[0-9a-f-]{36}$/.test(id)) throw new Error("example failed");
 * ```
 */
export function bootId(): string | undefined {
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: BOOT_ID_ENV })
        .state === "granted"
    ) {
      const given = Deno.env.get(BOOT_ID_ENV);
      if (given) return given;
    }
    if (
      Deno.permissions.querySync({ name: "read", path: BOOT_ID_PATH })
        .state !== "granted"
    ) return undefined;
    const id = Deno.readTextFileSync(BOOT_ID_PATH).trim();
    return id === "" ? undefined : id;
  } catch {
    return undefined;
  }
}

/** This process's boot id, read once (see {@linkcode bootId}). */
let ownId: string | undefined | null = null;

function ownBootId(): string | undefined {
  if (ownId === null) ownId = bootId();
  return ownId;
}

async function digest(salt: Uint8Array, id: string): Promise<Uint8Array> {
  const text = new TextEncoder().encode(id);
  const both = new Uint8Array(salt.length + text.length);
  both.set(salt);
  both.set(text, salt.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", both));
}

/**
 * A tag naming the kernel with boot id `id` (default: this one's) that
 * only a holder of the same id can recognise: 16 random bytes, then the
 * SHA-256 of them and `id`. Empty when there is no id (or it is empty).
 *
 * @example
 * ```ts
 * import { hostTag, isSameHost } from "@blit/cli/internals";
 * const tag = await hostTag("0b6c2f1e-0000-4000-8000-000000000001");
 * if (tag.length !== 48) throw new Error("example failed");
 * if (!(await isSameHost(tag, "0b6c2f1e-0000-4000-8000-000000000001"))) throw new Error("example failed");
 * if (await isSameHost(tag, "0b6c2f1e-0000-4000-8000-000000000002")) throw new Error("example failed");
 * ```
 */
export async function hostTag(
  id: string | undefined = ownBootId(),
): Promise<Uint8Array> {
  if (!id) return new Uint8Array(0);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const tag = new Uint8Array(TAG_BYTES);
  tag.set(salt);
  tag.set(await digest(salt, id), SALT_BYTES);
  return tag;
}

/**
 * Whether `tag` (see {@linkcode hostTag}) names the kernel with boot id
 * `id` (default: this one's, read once a process). False for a tag of the
 * wrong size, or no (or an empty) id.
 */
export async function isSameHost(
  tag: Uint8Array,
  id: string | undefined = ownBootId(),
): Promise<boolean> {
  if (!id || tag.length !== TAG_BYTES) return false;
  const want = await digest(tag.subarray(0, SALT_BYTES), id);
  let diff = 0;
  for (let i = 0; i < want.length; i++) diff |= want[i] ^ tag[SALT_BYTES + i];
  return diff === 0;
}
