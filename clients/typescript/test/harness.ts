// Starts a real `aegis fake-api` + `aegis serve` (with real Claude Code) for the live tests.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdirSync, mkdtempSync, openSync, writeFileSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type AegisClient } from "../src/index.js";

const API_KEY = "sk-ant-test-key-000000000000";

export const liveBins = (): { aegisBin: string; claudeBin: string } | undefined => {
  const aegisBin = process.env.AEGIS_BIN ?? "";
  const claudeBin = process.env.CLAUDE_BIN ?? "";
  return aegisBin && claudeBin ? { aegisBin, claudeBin } : undefined;
};

function listening(proc: ChildProcess, what: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    const t = setTimeout(() => reject(new Error(`${what}: no listening line in ${timeoutMs} ms`)), timeoutMs);
    rl.on("line", (line) => {
      if (line.startsWith("listening ")) {
        clearTimeout(t);
        // Keep draining stdout, but do not let the pipe hold the test process open: the tmux server the
        // aegis server starts inherits it and outlives the aegis process.
        (proc.stdout as unknown as { unref?: () => void }).unref?.();
        resolve(line.slice("listening ".length).trim());
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${what} exited with ${code} before listening`));
    });
  });
}

export class Stack {
  readonly dir = mkdtempSync(join(tmpdir(), "aegis-ts-"));
  readonly stateDir = join(this.dir, "state");
  readonly home = join(this.dir, "home");
  readonly configDir = join(this.dir, "claude-config");
  readonly workDir = join(this.dir, "work");
  readonly socket = `aegis-ts-${process.pid}-${Date.now()}`;
  /** The server requires it; clients from client() send it as a bearer token. */
  readonly token = `tok-${process.pid}-${Date.now()}`;
  fakeAddress = "";
  address = "";
  private fake?: ChildProcess;
  private server?: ChildProcess;
  private starts = 0;
  private clients: AegisClient[] = [];

  /** A client of this stack's server, closed by close(). */
  client(token: string | undefined = this.token): AegisClient {
    const c = connect(this.address, token);
    this.clients.push(c);
    return c;
  }

  constructor(
    readonly aegisBin: string,
    readonly claudeBin: string,
    readonly serverArgs: string[] = [],
  ) {
    for (const d of [this.stateDir, this.home, this.configDir, this.workDir]) mkdirSync(d, { recursive: true });
    writeFileSync(join(this.workDir, "README.md"), "A scratch repo for Aegis client tests.\n");
    writeFileSync(
      join(this.configDir, ".claude.json"),
      JSON.stringify({
        hasCompletedOnboarding: true,
        customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
        projects: { [this.workDir]: { hasTrustDialogAccepted: true } },
      }),
    );
  }

  async start(): Promise<void> {
    this.fake = spawn(this.aegisBin, ["fake-api", "--listen", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", openSync(join(this.dir, "fake-api.log"), "a")],
    });
    this.fakeAddress = await listening(this.fake, "aegis fake-api");
    await this.startServer("127.0.0.1:0");
  }

  private async startServer(listen: string): Promise<void> {
    this.starts++;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: this.home,
      CLAUDE_CONFIG_DIR: this.configDir,
      ANTHROPIC_BASE_URL: `http://${this.fakeAddress}`,
      ANTHROPIC_API_KEY: API_KEY,
      DISABLE_TELEMETRY: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      CLAUDE_CODE_MAX_RETRIES: "1",
    };
    delete env.TMUX;
    delete env.AEGIS_TOKEN;
    let last: unknown;
    for (let i = 0; i < 20; i++) {
      const args = ["serve", "--listen", listen, "--state-dir", this.stateDir, "--tmux-socket", this.socket];
      args.push("--claude-bin", this.claudeBin, "--claude-config-dir", this.configDir, "--token", this.token, ...this.serverArgs);
      this.server = spawn(this.aegisBin, args, {
        env,
        stdio: ["ignore", "pipe", openSync(join(this.dir, `serve-${this.starts}.log`), "a")],
      });
      try {
        this.address = await listening(this.server, "aegis serve");
        return;
      } catch (e) {
        last = e;
        if (this.server.exitCode === null) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    throw new Error(`aegis serve did not start: ${last}`);
  }

  /** SIGKILLs the server and starts a new one on the same address, state dir and tmux socket. */
  async restartServer(): Promise<void> {
    const s = this.server!;
    const exited = new Promise((r) => s.once("exit", r));
    s.kill("SIGKILL");
    await exited;
    await this.startServer(this.address);
  }

  logs(): string {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".log"))
      .map((f) => `--- ${f}\n${readFileSync(join(this.dir, f), "utf8").slice(-4000)}`)
      .join("\n");
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    for (const p of [this.server, this.fake]) {
      if (p && p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGTERM");
        const t = setTimeout(() => p.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }
    }
    spawnSync("tmux", ["-L", this.socket, "kill-server"], { stdio: "ignore" });
    // tmux leaves the socket file of a server that was killed; remove ours.
    rmSync(join(process.env.TMUX_TMPDIR ?? "/tmp", `tmux-${process.getuid?.() ?? 0}`, this.socket), { force: true });
    // CC may still write into its config dir (.claude.json, backups) for a few seconds while it exits after
    // the tmux kill: retry for up to 10 s, then leave the temp dir (not a test failure).
    const t0 = Date.now();
    for (;;) {
      try {
        rmSync(this.dir, { recursive: true, force: true });
        break;
      } catch (e) {
        if (Date.now() - t0 > 10_000) {
          console.error(`leaving ${this.dir}: ${e}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (process.env.AEGIS_TEST_DEBUG) console.error(`cleanup took ${Date.now() - t0} ms`);
  }
}
