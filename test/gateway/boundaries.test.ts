import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FIXTURES } from '../helpers/fixtures.js';

const GATEWAY_SOURCE = join(FIXTURES, '..', '..', 'src', 'gateway');

describe('gateway imports', () => {
  it('reach only oci, content and itself', async () => {
    const names = (await readdir(GATEWAY_SOURCE)).filter((name) => name.endsWith('.ts'));
    assert.ok(names.includes('handler.ts'));
    for (const name of names) {
      const text = await readFile(join(GATEWAY_SOURCE, name), 'utf8');
      const imports = [...text.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((match) => match[1]!);
      for (const target of imports) {
        if (!target.startsWith('.')) continue;
        assert.match(target, /^(?:\.\/|\.\.\/oci\/|\.\.\/content\/)/, `${name} imports ${target}`);
      }
    }
  });
});
