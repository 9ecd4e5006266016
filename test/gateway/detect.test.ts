import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { architectureFromHints, detectFromUserAgent, detectPlatform } from '../../src/gateway/detect.js';

interface AgentCase {
  name: string;
  agent: string;
  os: string | undefined;
  architecture: string | undefined;
  candidates: string[];
}

// Real User-Agent strings as the named clients send them.
const AGENTS: AgentCase[] = [
  {
    name: 'Chrome on Windows x64',
    agent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    os: 'windows',
    architecture: undefined,
    candidates: ['amd64', 'arm64'],
  },
  {
    name: 'Firefox on Windows x64',
    agent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
    os: 'windows',
    architecture: undefined,
    candidates: ['amd64', 'arm64'],
  },
  {
    name: 'Edge on Windows on Arm (legacy token)',
    agent:
      'Mozilla/5.0 (Windows NT 10.0; ARM64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
    os: 'windows',
    architecture: 'arm64',
    candidates: ['arm64'],
  },
  {
    name: 'Safari on macOS',
    agent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
    os: 'darwin',
    architecture: undefined,
    candidates: ['arm64', 'amd64'],
  },
  {
    name: 'Firefox on macOS',
    agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko/20100101 Firefox/133.0',
    os: 'darwin',
    architecture: undefined,
    candidates: ['arm64', 'amd64'],
  },
  {
    name: 'Firefox on Linux x64',
    agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
    os: 'linux',
    architecture: 'amd64',
    candidates: ['amd64'],
  },
  {
    name: 'Firefox on Ubuntu x64',
    agent: 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0',
    os: 'linux',
    architecture: 'amd64',
    candidates: ['amd64'],
  },
  {
    name: 'Firefox on Linux arm64',
    agent: 'Mozilla/5.0 (X11; Linux aarch64; rv:109.0) Gecko/20100101 Firefox/115.0',
    os: 'linux',
    architecture: 'arm64',
    candidates: ['arm64'],
  },
  {
    name: 'Chromium on Raspberry Pi OS 32-bit',
    agent:
      'Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    os: 'linux',
    architecture: 'arm',
    candidates: ['arm'],
  },
  {
    name: 'Chrome on ChromeOS',
    agent:
      'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    os: 'linux',
    architecture: 'amd64',
    candidates: ['amd64'],
  },
  {
    name: 'Chrome on Android',
    agent:
      'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
    os: 'android',
    architecture: undefined,
    candidates: ['arm64', 'amd64'],
  },
  {
    name: 'Safari on iPhone',
    agent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
    os: 'ios',
    architecture: 'arm64',
    candidates: ['arm64'],
  },
  {
    name: 'Safari on iPad',
    agent:
      'Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
    os: 'ios',
    architecture: 'arm64',
    candidates: ['arm64'],
  },
  { name: 'curl', agent: 'curl/8.5.0', os: undefined, architecture: undefined, candidates: [] },
  { name: 'wget', agent: 'Wget/1.21.4', os: undefined, architecture: undefined, candidates: [] },
  {
    name: 'PowerShell 7 on Windows',
    agent: 'Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.22631; en-US) PowerShell/7.4.1',
    os: 'windows',
    architecture: undefined,
    candidates: ['amd64', 'arm64'],
  },
  {
    name: 'Windows PowerShell 5.1',
    agent: 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.22621.2506',
    os: 'windows',
    architecture: undefined,
    candidates: ['amd64', 'arm64'],
  },
  {
    name: 'PowerShell 7 on Apple Silicon',
    agent:
      'Mozilla/5.0 (Macintosh; Darwin 23.1.0 Darwin Kernel Version 23.1.0: Mon Oct  9 21:27:24 PDT 2023; root:xnu-10002.41.9~6/RELEASE_ARM64_T6000; en-US) PowerShell/7.4.0',
    os: 'darwin',
    architecture: 'arm64',
    candidates: ['arm64'],
  },
  {
    name: 'PowerShell 7 on Intel macOS',
    agent:
      'Mozilla/5.0 (Macintosh; Darwin 22.6.0 Darwin Kernel Version 22.6.0: Wed Jul  5 22:22:05 PDT 2023; root:xnu-8796.141.3~6/RELEASE_X86_64; en-US) PowerShell/7.3.6',
    os: 'darwin',
    architecture: 'amd64',
    candidates: ['amd64'],
  },
  { name: 'empty User-Agent', agent: '', os: undefined, architecture: undefined, candidates: [] },
];

describe('detectFromUserAgent', () => {
  for (const entry of AGENTS) {
    it(entry.name, () => {
      const detected = detectFromUserAgent(entry.agent);
      assert.equal(detected.os, entry.os);
      assert.equal(detected.architecture, entry.architecture);
      assert.deepEqual(detected.candidates, entry.candidates);
    });
  }
});

interface HintCase {
  name: string;
  headers: Record<string, string>;
  os: string | undefined;
  architecture: string | undefined;
  source: string;
}

const CHROME_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const CHROME_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

const HINTS: HintCase[] = [
  {
    name: 'Chrome on Windows on Arm',
    headers: {
      'user-agent': CHROME_WINDOWS,
      'sec-ch-ua-platform': '"Windows"',
      'sec-ch-ua-arch': '"arm"',
      'sec-ch-ua-bitness': '"64"',
    },
    os: 'windows',
    architecture: 'arm64',
    source: 'client-hints',
  },
  {
    name: 'Chrome on Windows x64',
    headers: {
      'user-agent': CHROME_WINDOWS,
      'sec-ch-ua-platform': '"Windows"',
      'sec-ch-ua-arch': '"x86"',
      'sec-ch-ua-bitness': '"64"',
    },
    os: 'windows',
    architecture: 'amd64',
    source: 'client-hints',
  },
  {
    name: 'Chrome on Apple Silicon',
    headers: {
      'user-agent': CHROME_MAC,
      'sec-ch-ua-platform': '"macOS"',
      'sec-ch-ua-arch': '"arm"',
      'sec-ch-ua-bitness': '"64"',
    },
    os: 'darwin',
    architecture: 'arm64',
    source: 'client-hints',
  },
  {
    name: 'Chrome on Intel macOS',
    headers: {
      'user-agent': CHROME_MAC,
      'sec-ch-ua-platform': '"macOS"',
      'sec-ch-ua-arch': '"x86"',
      'sec-ch-ua-bitness': '"64"',
    },
    os: 'darwin',
    architecture: 'amd64',
    source: 'client-hints',
  },
  {
    name: 'platform hint without arch',
    headers: { 'user-agent': CHROME_MAC, 'sec-ch-ua-platform': '"macOS"' },
    os: 'darwin',
    architecture: undefined,
    source: 'client-hints',
  },
  {
    name: 'Chrome on 32-bit Windows',
    headers: {
      'user-agent': CHROME_WINDOWS,
      'sec-ch-ua-platform': '"Windows"',
      'sec-ch-ua-arch': '"x86"',
      'sec-ch-ua-bitness': '"32"',
    },
    os: 'windows',
    architecture: '386',
    source: 'client-hints',
  },
  {
    name: 'Linux hint keeps the agent CPU',
    headers: {
      'user-agent': 'Mozilla/5.0 (X11; Linux aarch64) Chrome/120.0.0.0',
      'sec-ch-ua-platform': '"Linux"',
    },
    os: 'linux',
    architecture: 'arm64',
    source: 'client-hints',
  },
  {
    name: 'unknown hint values',
    headers: { 'user-agent': 'curl/8.5.0', 'sec-ch-ua-platform': '"Unknown"', 'sec-ch-ua-arch': '""' },
    os: undefined,
    architecture: undefined,
    source: 'none',
  },
];

describe('detectPlatform with client hints', () => {
  for (const entry of HINTS) {
    it(entry.name, () => {
      const detected = detectPlatform(entry.headers);
      assert.equal(detected.os, entry.os);
      assert.equal(detected.architecture, entry.architecture);
      assert.equal(detected.source, entry.source);
    });
  }

  it('lists candidates when only the OS is hinted', () => {
    const detected = detectPlatform({ 'user-agent': CHROME_MAC, 'sec-ch-ua-platform': '"macOS"' });
    assert.deepEqual(detected.candidates, ['arm64', 'amd64']);
  });
});

describe('architectureFromHints', () => {
  it('maps arch and bitness', () => {
    assert.equal(architectureFromHints('x86', '64'), 'amd64');
    assert.equal(architectureFromHints('x86', '32'), '386');
    assert.equal(architectureFromHints('arm', '64'), 'arm64');
    assert.equal(architectureFromHints('arm', '32'), 'arm');
    assert.equal(architectureFromHints('arm', ''), 'arm64');
    assert.equal(architectureFromHints('', '64'), undefined);
  });
});
