// What every file of the browser suite needs: the civpass binary, a server of its own on a
// free loopback port, and Debian's Chromium.
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const run = promisify(execFile);
export const bin = process.env.CIVPASS_BIN ?? join(process.env.CARGO_TARGET_DIR ?? new URL("../../target", import.meta.url).pathname, "debug", "civpass");

/** Runs a civpass command; resolves to what it printed. */
export async function civpass(...args) {
  const { stdout } = await run(bin, args, { env: { ...process.env, CIVPASS_LOG: "warn" } });
  return stdout;
}

/**
 * Starts `civpass serve` with `args` on a free port; resolves to the process and its issuer,
 * which the first line it prints names (`… (issuer http://localhost:PORT)`).
 */
export async function serve(dataDir, ...args) {
  const server = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, ...args], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, CIVPASS_LOG: "warn" } });
  const line = await new Promise((resolve) => createInterface({ input: server.stdout }).once("line", resolve));
  return { server, base: /\(issuer (\S+)\)/.exec(line)[1] };
}

/**
 * A command-line wallet in `dataDir`, enrolled at `base` for the synthetic person at `offset`
 * (each test file takes its own, as one identity holds one account); resolves to its file.
 */
export async function enrolledWallet(dataDir, base, offset) {
  const [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", String(offset), "--json"));
  const wallet = join(dataDir, "wallet.json");
  await civpass("wallet", "enroll", "--wallet", wallet, "--server", base, "--id-number", person.hkid, "--name-en", person.name_en, "--dob", person.date_of_birth, "--evidence", "pass");
  return wallet;
}

/** Chromium without the background traffic that would slow or disturb the tests. */
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}
