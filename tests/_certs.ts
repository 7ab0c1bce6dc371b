// Test and benchmark certificates, made by openssl: a private CA and
// server certificates for the names asked.
async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/**
 * Writes `ca.pem`/`ca.key` and, for each `name`, `NAME.pem`/`NAME.key`
 * signed by that CA with `subjectAltName` `names[name]` (e.g.
 * "DNS:localhost,IP:127.0.0.1"), under `dir`.
 */
export async function makeCerts(dir: string, names: Record<string, string>) {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=blit test CA",
  ], dir);
  for (const [name, san] of Object.entries(names)) {
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ], dir);
    Deno.writeTextFileSync(`${dir}/${name}.ext`, `subjectAltName=${san}\n`);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ], dir);
  }
}
