import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { testDir } from '../support/temp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * Runs `npm run deps`'s check (the project's .dependency-cruiser.cjs) over a small
 * tree of the project's shape, with the project's `#alias/*` imports. Returns the report and exit status.
 */
function checkRule(files: Record<string, string>): { status: number | null; report: string } {
  const dir = testDir('deps-rule-');
  dirs.push(dir);
  const tree: Record<string, string> = {
    'package.json': JSON.stringify({
      type: 'module',
      imports: {
        '#domain/*': './layers/domain/*',
        '#runtime/*': './layers/runtime/*',
        '#local/*': './local/*',
      },
    }),
    'tsconfig.json': JSON.stringify({ compilerOptions: { allowImportingTsExtensions: true, noEmit: true } }),
    ...files,
  };
  for (const folder of ['layers', 'functions', 'local']) mkdirSync(join(dir, folder));
  for (const [path, text] of Object.entries(tree)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const run = spawnSync(
    join(root, 'node_modules', '.bin', 'depcruise'),
    ['layers', 'functions', 'local', '--config', join(root, '.dependency-cruiser.cjs'), '--no-progress'],
    { cwd: dir, encoding: 'utf8' },
  );
  return { status: run.status, report: `${run.stdout}${run.stderr}` };
}

describe('The dependency rule', () => {
  it('names the import when a layer reaches into the local stack or the functions, statically or dynamically', () => {
    // Prepare
    const files = {
      'local/pilot-launcher.ts': 'export const local = 1;\n',
      'functions/deps.ts': 'export const deps = 1;\n',
      'layers/runtime/launcher.ts': "export const load = () => import('#local/pilot-launcher.ts');\n",
      'layers/domain/deps.ts': "export { deps } from '../../functions/deps.ts';\n",
    };

    // Act
    const { status, report } = checkRule(files);

    // Assess
    expect(status).not.toBe(0);
    expect(report).toContain(
      'layers-import-no-entry-point: layers/runtime/launcher.ts → local/pilot-launcher.ts',
    );
    expect(report).toContain('layers-import-no-entry-point: layers/domain/deps.ts → functions/deps.ts');
  });

  it('names the import when the runtime imports the domain or the domain the runtime', () => {
    // Prepare
    const files = {
      'layers/domain/pilots.ts': "import type { Logger } from '#runtime/log.ts';\nexport type L = Logger;\n",
      'layers/runtime/log.ts': 'export interface Logger { info(m: string): void }\n',
      'layers/runtime/launcher.ts': "export { ecs } from '#domain/ecs.ts';\n",
      'layers/domain/ecs.ts': 'export const ecs = 1;\n',
    };

    // Act
    const { status, report } = checkRule(files);

    // Assess
    expect(status).not.toBe(0);
    expect(report).toContain('domain-imports-no-runtime: layers/domain/pilots.ts → layers/runtime/log.ts');
    expect(report).toContain('runtime-imports-no-domain: layers/runtime/launcher.ts → layers/domain/ecs.ts');
  });

  it('names a loop under layers/, even one closed by a type-only import', () => {
    // Prepare
    const files = {
      'layers/contract/wire.ts': "import type { Message } from './messages.ts';\nexport type W = Message;\n",
      'layers/contract/messages.ts':
        "import type { W } from './wire.ts';\nexport type Message = { w?: W };\n",
    };

    // Act
    const { status, report } = checkRule(files);

    // Assess
    expect(status).not.toBe(0);
    expect(report).toContain('layers-have-no-cycle: layers/contract/messages.ts');
  });

  it('lets the entry points assemble the layers', () => {
    // Prepare
    const files = {
      'layers/domain/pilots.ts': 'export const adjust = 1;\n',
      'local/pilot-launcher.ts': "export { adjust } from '#domain/pilots.ts';\n",
      'functions/pilot-launcher.ts': "export const load = () => import('#local/pilot-launcher.ts');\n",
    };

    // Act
    const { status, report } = checkRule(files);

    // Assess
    expect({ status, report }).toMatchObject({ status: 0, report: expect.stringContaining('no dependency') });
  });
});
