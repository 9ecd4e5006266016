/**
 * The dependency direction of the registry and its storage: they build on the OCI data model,
 * the content interface and each other, never on the client or the download gateway.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

async function importsOf(folder: string): Promise<{ file: string; target: string }[]> {
  const found: { file: string; target: string }[] = [];
  for (const name of await readdir(join(SOURCE, folder))) {
    if (!name.endsWith('.ts')) continue;
    const text = await readFile(join(SOURCE, folder, name), 'utf8');
    for (const match of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)';/gm))
      found.push({ file: `${folder}/${name}`, target: match[1] ?? '' });
  }
  return found;
}

/** npm packages the registry may use: the server logger and bcrypt for htpasswd files. */
const PACKAGES = ['pino', 'bcryptjs'];

describe('import graph', () => {
  it('registry and storage import only oci, content and storage', async () => {
    const allowed: Record<string, string[]> = {
      registry: ['../oci/', '../content/', '../storage/', './'],
      storage: ['../oci/', '../content/', './'],
    };
    for (const [folder, prefixes] of Object.entries(allowed)) {
      for (const { file, target } of await importsOf(folder)) {
        if (target.startsWith('node:') || PACKAGES.includes(target)) continue;
        assert.ok(
          prefixes.some((prefix) => target.startsWith(prefix)),
          `${file} imports ${target}, outside ${prefixes.join(', ')}`,
        );
      }
    }
  });
});
