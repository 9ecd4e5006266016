import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findChallenge, parseWwwAuthenticate } from '../../src/client/challenge.js';

describe('parseWwwAuthenticate', () => {
  it('parses Basic with a realm', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm"'), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
    ]);
  });

  it('parses Bearer with realm, service and scope', () => {
    const [challenge] = parseWwwAuthenticate(
      'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:hello:pull,push"',
    );
    assert.equal(challenge?.scheme, 'bearer');
    assert.equal(challenge?.params['realm'], 'https://auth.example.com/token');
    assert.equal(challenge?.params['service'], 'registry.example.com');
    assert.equal(challenge?.params['scope'], 'repository:hello:pull,push');
  });

  it('parses two challenges in one value', () => {
    const challenges = parseWwwAuthenticate('Basic realm="a", Bearer realm="https://t/token", service=reg');
    assert.deepEqual(
      challenges.map((challenge) => challenge.scheme),
      ['basic', 'bearer'],
    );
    assert.equal(challenges[1]?.params['service'], 'reg');
  });

  it('reads escapes and commas inside quoted strings', () => {
    const [challenge] = parseWwwAuthenticate(
      'Bearer realm="https://t/token", scope="repository:a:pull,push", error="say \\"hi\\""',
    );
    assert.equal(challenge?.params['scope'], 'repository:a:pull,push');
    assert.equal(challenge?.params['error'], 'say "hi"');
  });

  it('lowercases scheme and parameter names', () => {
    const [challenge] = parseWwwAuthenticate('BEARER Realm="https://t/token"');
    assert.equal(challenge?.scheme, 'bearer');
    assert.equal(challenge?.params['realm'], 'https://t/token');
  });

  it('accepts several header values', () => {
    const challenges = parseWwwAuthenticate(['Basic realm="a"', 'Bearer realm="b"']);
    assert.equal(findChallenge(challenges, 'Bearer')?.params['realm'], 'b');
  });

  it('returns nothing for a missing or empty header', () => {
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate(''), []);
  });

  it('stops at an unterminated quoted string', () => {
    const [challenge] = parseWwwAuthenticate('Bearer realm="https://t/token');
    assert.equal(challenge?.scheme, 'bearer');
    assert.equal(challenge?.params['realm'], undefined);
  });
});
