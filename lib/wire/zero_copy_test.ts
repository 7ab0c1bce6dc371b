import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { ContainedRoot, ContainmentError } from "../fs/contained_root.ts";
import type { FileEntry } from "../fs/entry.ts";
import { FileTable } from "../fs/path_table.ts";
import { frameSource } from "./frame_io.ts";
import { FrameSink } from "./frame_sink.ts";
import { ReceiveSink } from "./receive_sink.ts";
import { SourceChangedError } from "./file_reader.ts";
import { loadZeroCopy, type ZeroCopy, ZeroCopyError } from "./zero_copy.ts";

const linux = Deno.build.os === "linux";

function zeroCopy(): ZeroCopy {
  const zc = loadZeroCopy();
  if (!zc) throw new Error("zero-copy should load on Linux with --allow-all");
  return zc;
}

async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn, () => void]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await accepted as Deno.TcpConn;
  return [client, server, () => listener.close()];
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(1 << 20);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    parts.push(buffer.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
  }
  return out;
}

Deno.test({
  name: "zero-copy: sendfile moves a file's bytes exactly, from an offset",
  ignore: !linux,
  async fn() {
    const zc = zeroCopy();
    const root = Deno.makeTempDirSync();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    Deno.writeFileSync(`${root}/f`, data);
    const [client, server, close] = await pair();
    try {
      const socket = zc.attach(client);
      if (!socket) throw new Error("socket not found");
      const file = zc.openRead(root, "f");
      const got = readAll(server);
      const moved: number[] = [];
      await zc.sendFile(socket, file, 5, data.length - 5, "f", {
        onBytes: (n) => moved.push(n),
      });
      file.close();
      socket.close();
      client.close();
      assertEquals(await got, data.subarray(5));
      assertEquals(moved.reduce((a, b) => a + b, 0), data.length - 5);
    } finally {
      server.close();
      close();
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "zero-copy: attach finds this connection's socket, not another's",
  ignore: !linux,
  async fn() {
    const zc = zeroCopy();
    const [a1, b1, close1] = await pair();
    const [a2, b2, close2] = await pair();
    try {
      const root = Deno.makeTempDirSync();
      Deno.writeTextFileSync(`${root}/one`, "first");
      const socket = zc.attach(a2)!;
      const file = zc.openRead(root, "one");
      await zc.sendFile(socket, file, 0, 5, "one");
      file.close();
      socket.close();
      a2.close();
      assertEquals(new TextDecoder().decode(await readAll(b2)), "first");
      // The other connection got nothing.
      a1.close();
      assertEquals((await readAll(b1)).length, 0);
      Deno.removeSync(root, { recursive: true });
    } finally {
      b1.close();
      b2.close();
      close1();
      close2();
    }
  },
});

Deno.test({
  name:
    "zero-copy: openRead refuses links and non-files, inside a contained root too",
  ignore: !linux,
  fn() {
    const zc = zeroCopy();
    const root = Deno.realPathSync(Deno.makeTempDirSync());
    const outside = Deno.makeTempFileSync();
    const cwd = Deno.cwd();
    try {
      Deno.mkdirSync(`${root}/d`);
      Deno.writeTextFileSync(`${root}/d/ok`, "ok");
      Deno.symlinkSync(outside, `${root}/d/link`);
      const contained = new ContainedRoot(root);
      const file = zc.openRead(contained, "d/ok");
      file.close();
      assertThrows(
        () => zc.openRead(contained, "d/link"),
        ContainmentError,
        /no longer a regular file/,
      );
      assertThrows(
        () => zc.openRead(contained, "d"),
        ContainmentError,
        /no longer a regular file/,
      );
      assertThrows(() => zc.openRead(root, "d/link"), ContainmentError);
    } finally {
      Deno.chdir(cwd);
      Deno.removeSync(root, { recursive: true });
      Deno.removeSync(outside);
    }
  },
});

Deno.test({
  name:
    "zero-copy: a file that shrank and a peer that left are errors, not hangs",
  ignore: !linux,
  async fn() {
    const zc = zeroCopy();
    const root = Deno.makeTempDirSync();
    Deno.writeFileSync(`${root}/f`, new Uint8Array(1000));
    const [client, server, close] = await pair();
    try {
      const socket = zc.attach(client)!;
      const file = zc.openRead(root, "f");
      const got = readAll(server);
      await assertRejects(
        () => zc.sendFile(socket, file, 0, 2000, "f"),
        SourceChangedError,
        /File f shrank/,
      );
      file.close();
      client.close();
      socket.close();
      await got;
      server.close();
      // A peer that closed: sendfile fails, poll reports it.
      const [c2, s2, close2] = await pair();
      const socket2 = zc.attach(c2)!;
      s2.close();
      Deno.writeFileSync(`${root}/big`, new Uint8Array(64 << 20));
      const big = zc.openRead(root, "big");
      await assertRejects(
        () => zc.sendFile(socket2, big, 0, 64 << 20, "big"),
        ZeroCopyError,
      );
      big.close();
      socket2.close();
      c2.close();
      close2();
    } finally {
      close();
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "zero-copy: FrameSink sends the same frames by sendfile as by read/write",
  ignore: !linux,
  async fn() {
    const zc = zeroCopy();
    let calls = 0;
    const send = zc.sendFile.bind(zc);
    zc.sendFile = (...args) => {
      calls++;
      return send(...args);
    };
    const src = Deno.makeTempDirSync();
    const dst = Deno.realPathSync(Deno.makeTempDirSync());
    // A contained root moves the working directory; it must come back
    // before the directory goes.
    const cwd = Deno.cwd();
    try {
      const entries: FileEntry[] = [];
      const sizes = [0, 10, 256 * 1024, 256 * 1024 - 1, 5 * 1024 * 1024 + 3];
      const contents = new Map<string, Uint8Array>();
      sizes.forEach((size, i) => {
        const path = `f${i}`;
        const data = randomBytes(size);
        contents.set(path, data);
        Deno.writeFileSync(`${src}/${path}`, data);
        entries.push({
          path,
          kind: "file",
          size,
          mtimeMs: 1_600_000_000_000 + i * 1000,
          mode: 0o640,
        });
      });
      const expected = new FileTable();
      for (const e of entries) expected.set(e.path, { ...e });
      const [client, server, close] = await pair();
      const sink = new ReceiveSink(new ContainedRoot(dst), expected);
      const received = frameSource(server).pipeTo(sink);
      await ReadableStream.from([entries]).pipeTo(
        new FrameSink(client, src, { zeroCopy: zc }),
      );
      await received;
      client.close();
      server.close();
      close();
      // Two bodies are at or over the 256 KiB threshold.
      assertEquals(calls, 2);
      for (const e of entries) {
        assertEquals(
          Deno.readFileSync(`${dst}/${e.path}`),
          contents.get(e.path),
        );
        const info = Deno.statSync(`${dst}/${e.path}`);
        assertEquals(info.mode! & 0o777, 0o640);
        assertEquals(info.mtime!.getTime(), e.mtimeMs);
      }
    } finally {
      Deno.chdir(cwd);
      zc.sendFile = send;
      Deno.removeSync(src, { recursive: true });
      Deno.removeSync(dst, { recursive: true });
    }
  },
});
