/**
 * The gateway's HTML pages: the list of repositories, a release page, and error pages. Server-rendered,
 * with one inline style sheet and no script, so they work without JavaScript, load in one request and
 * read well on a phone. Every value from an artifact goes through the escaping `html` template.
 */
import { createHash } from 'node:crypto';
import { formatPlatform, type Platform } from '../oci/platform.js';
import type { DetectedPlatform } from './detect.js';
import type { GatewayError } from './errors.js';
import { html, SafeHtml } from './html.js';
import {
  archivePath,
  downloadPath,
  filePath,
  formatDate,
  formatSize,
  installPath,
  osLabel,
  pagePath,
  platformLabel,
} from './links.js';
import { MAX_NOTES_BYTES } from './notes.js';
import type { Build, Release, ReleaseFile } from './release.js';
import type { Selection } from './select.js';
import type { VersionTag } from './versions.js';

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--accent:#0a58ca;--on-accent:#fff;--box:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b3;--line:#30363d;--accent:#4493f8;--on-accent:#0d1117;--box:#161b22}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:52rem;margin:0 auto;padding:1rem}
header{border-bottom:1px solid var(--line)}
footer{color:var(--muted);font-size:.875rem;border-top:1px solid var(--line)}
a{color:var(--accent)}
h1{font-size:1.75rem;margin:.5rem 0;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin-top:2rem}
.meta,.note{color:var(--muted)}
.button{display:inline-block;padding:.875rem 1.5rem;margin:.25rem .5rem .25rem 0;border-radius:.5rem;background:var(--accent);color:var(--on-accent);font-size:1.125rem;font-weight:600;text-decoration:none}
.button:focus-visible,a:focus-visible{outline:3px solid var(--fg);outline-offset:2px}
.warning{border-left:4px solid #bf8700;padding:.5rem 1rem;background:var(--box)}
ul.files{list-style:none;padding:0}
ul.files li{padding:.5rem 0;border-bottom:1px solid var(--line)}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.875rem}
code.digest{overflow-wrap:anywhere;color:var(--muted)}
pre{background:var(--box);padding:.75rem;overflow-x:auto;border-radius:.375rem}
.notes{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--box);padding:.75rem;border-radius:.375rem}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:1rem}
`;

/** The `Content-Security-Policy` of every page: nothing but the inline style sheet above may load. */
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** Everything a release page shows. */
export interface ReleasePageModel {
  release: Release;
  /** Every version of the repository, newest first. */
  versions: VersionTag[];
  /** The version `latest` points at, to mark it in the list. */
  latest: string | undefined;
  detected: DetectedPlatform;
  selection: Selection;
  /** Public base URL without a trailing slash, for copy-paste commands. */
  baseUrl: string;
}

/** Renders the list of repositories; `undefined` means the registry does not list them. */
export function renderHomePage(repositories: readonly string[] | undefined, truncated: boolean): string {
  if (repositories === undefined) {
    const unlisted = html`<h1>Downloads</h1>
<p>This registry does not list its repositories. Open a repository by its name, such as <code>/team/app</code>.</p>`;
    return layout('Downloads', unlisted);
  }
  const items = repositories.map(
    (repository) => html`<li><a href="${pagePath(repository)}">${repository}</a></li>`,
  );
  const body = html`<h1>Downloads</h1>
${repositories.length === 0 ? html`<p>Nothing has been published yet.</p>` : html`<ul>${items}</ul>`}
${truncated ? html`<p class="note">The list shows the first ${repositories.length} repositories.</p>` : false}`;
  return layout('Downloads', body);
}

/** Renders the page of one release. */
export function renderReleasePage(model: ReleasePageModel): string {
  const { release } = model;
  const created = formatDate(release.created);
  const title = `${release.repository} ${release.version}`;

  if (release.kind === 'container-image') return renderContainerImagePage(model);

  const body = html`<h1>${release.repository} <span class="meta">${release.version}</span></h1>
<p class="meta">${release.version === model.latest ? 'Latest version' : 'Version'}${created ? html`, published <time datetime="${release.created!}">${created}</time>` : false}</p>
<section aria-labelledby="get">
<h2 id="get">Download</h2>
${renderMainDownload(model)}
</section>
${release.notes ? html`<section aria-labelledby="notes"><h2 id="notes">Release notes</h2><div class="notes">${release.notes}</div>${release.notesTruncated ? html`<p class="note">The notes were cut at ${MAX_NOTES_BYTES / 1024} KiB; this is their start.</p>` : false}</section>` : false}
${renderCommands(model)}
<section aria-labelledby="platforms">
<h2 id="platforms">All platforms</h2>
${release.builds.map((build) => renderBuild(model, build))}
</section>
${renderVersions(model)}`;
  return layout(title, body);
}

/** Renders an error page; lists the available platforms or versions the error carries. */
export function renderErrorPage(error: GatewayError): string {
  const { detail } = error;
  const repository = detail.repository;
  const version = detail.version;
  const available = detail.available ?? [];
  const platforms =
    available.length > 0 && repository && version
      ? html`<h2>Available platforms</h2><ul>${available.map((platform) => html`<li><a href="${downloadPath(repository, version, platform)}">${platformLabel(platform)}</a> <code>${formatPlatform(platform)}</code></li>`)}</ul>`
      : false;
  const versions =
    detail.versions && detail.versions.length > 0 && repository
      ? html`<h2>Versions</h2><ul>${detail.versions.map((tag) => html`<li><a href="${pagePath(repository, tag)}">${tag}</a></li>`)}</ul>`
      : false;
  const back = repository
    ? html`<p><a href="${pagePath(repository)}">Back to ${repository}</a></p>`
    : html`<p><a href="/">All downloads</a></p>`;
  const body = html`<h1>${heading(error)}</h1>
<p>${error.message}</p>
${platforms}
${versions}
${back}`;
  return layout(heading(error), body);
}

function renderContainerImagePage(model: ReleasePageModel): string {
  const { release } = model;
  const host = model.baseUrl.replace(/^[a-z]+:\/\//, '');
  const body = html`<h1>${release.repository} <span class="meta">${release.version}</span></h1>
<p class="warning">This is a container image, not a downloadable program. Run it with a container runtime instead:</p>
<pre><code>docker pull ${referenceText(host, release)}</code></pre>
${renderVersions(model)}`;
  return layout(`${release.repository} ${release.version}`, body);
}

function renderMainDownload(model: ReleasePageModel): SafeHtml {
  const { release, selection, detected } = model;
  const detectedLabel =
    detected.os === undefined
      ? undefined
      : platformLabel({ os: detected.os, architecture: detected.architecture });

  switch (selection.kind) {
    case 'exact':
      return html`${mainButton(model, selection.build)}
${selection.build.platform && detectedLabel ? html`<p class="meta">Detected from your browser: ${detectedLabel}.</p>` : false}
${emulationNote(detected, selection.build)}`;
    case 'emulated':
      return html`<p class="warning">There is no native build for ${platformLabel(selection.native)}. The ${platformLabel(selection.build.platform!)} build runs through ${selection.native.os === 'darwin' ? 'Rosetta 2' : 'the x64 emulation of Windows on Arm'}.</p>
${mainButton(model, selection.build)}`;
    case 'choice':
      return html`<p class="note">Your browser does not tell which processor this ${osLabel(selection.os)} computer has. ${selection.os === 'darwin' ? 'Choose Apple Silicon for M1 and later Macs, Intel for older ones (Apple menu, About This Mac).' : 'Choose the one that matches your computer.'}</p>
${selection.builds.map((build) => mainButton(model, build))}`;
    case 'missing':
      return html`<p class="warning">${release.repository} ${release.version} has no build for ${platformLabel(selection.wanted)}. The builds below are for other platforms.</p>`;
    case 'unknown':
      return html`<p class="note">Your platform could not be detected. Choose a build below.</p>`;
  }
}

// The browser hid the CPU and the only build is x64, which also runs where the OS emulates x64.
function emulationNote(detected: DetectedPlatform, build: Build): SafeHtml | false {
  if (
    detected.architecture !== undefined ||
    detected.candidates.length < 2 ||
    build.platform?.architecture !== 'amd64'
  )
    return false;
  if (build.platform.os === 'darwin')
    return html`<p class="note">This Intel build also runs on Apple Silicon through Rosetta 2.</p>`;
  if (build.platform.os === 'windows')
    return html`<p class="note">This x64 build also runs on Windows on Arm through emulation.</p>`;
  return false;
}

function mainButton(model: ReleasePageModel, build: Build): SafeHtml | false {
  const main = build.main;
  if (main === undefined) return html`<p>This build has no files.</p>`;
  if (main.problem !== undefined)
    return html`<p>The program <code>${main.title}</code> is unavailable: its file name is unsafe because ${main.problem}.</p>`;
  const { release } = model;
  const label = build.platform
    ? `Download ${main.name} for ${platformLabel(build.platform)}`
    : `Download ${main.name}`;
  return html`<p><a class="button" href="${downloadPath(release.repository, release.version, build.platform)}">${label}</a></p>
<p class="meta">${formatSize(main.size)}, SHA-256 <code class="digest">${hexOf(main.digest)}</code></p>`;
}

function renderCommands(model: ReleasePageModel): SafeHtml {
  const { release, baseUrl, selection } = model;
  const host = baseUrl.replace(/^[a-z]+:\/\//, '');
  const build = selection.kind === 'exact' || selection.kind === 'emulated' ? selection.build : undefined;
  const direct = build
    ? `${baseUrl}${downloadPath(release.repository, release.version, build.platform)}`
    : undefined;
  // The scripts install the newest version unless the page shows another one.
  const pinned = release.version === model.latest ? '' : `?version=${encodeURIComponent(release.version)}`;
  const which = pinned ? `version ${release.version}` : 'the newest version';
  return html`<section aria-labelledby="commands">
<h2 id="commands">Install from a terminal</h2>
<p>Linux and macOS, ${which}, checked against its SHA-256:</p>
<pre><code>curl -fsSL '${baseUrl}${installPath(release.repository, 'sh')}${pinned}' | sh</code></pre>
<p>Windows PowerShell:</p>
<pre><code>irm '${baseUrl}${installPath(release.repository, 'ps1')}${pinned}' | iex</code></pre>
<p>With ocidrop:</p>
<pre><code>ocidrop pull ${referenceText(host, release)}</code></pre>
${direct ? html`<p>With curl, the file alone:</p><pre><code>curl -fLOJ '${direct}'</code></pre>` : false}
</section>`;
}

function renderBuild(model: ReleasePageModel, build: Build): SafeHtml {
  const { release } = model;
  const label = build.platform ? platformLabel(build.platform) : 'All platforms';
  const id = `build-${build.platform ? formatPlatform(build.platform).replaceAll('/', '-') : 'any'}`;
  const files = build.files.map((file) => renderFile(release, build.platform, file));
  const archives =
    build.files.length > 1
      ? html`<p>Everything as one archive: <a href="${archivePath(release.repository, release.version, 'zip', build.platform)}">.zip</a>, <a href="${archivePath(release.repository, release.version, 'tar.gz', build.platform)}">.tar.gz</a></p>`
      : false;
  return html`<section aria-labelledby="${id}">
<h3 id="${id}">${label}${build.platform ? html` <code>${formatPlatform(build.platform)}</code>` : false}</h3>
${build.files.length === 0 ? html`<p>No files.</p>` : html`<ul class="files">${files}</ul>`}
${archives}
</section>`;
}

function renderFile(release: Release, platform: Platform | undefined, file: ReleaseFile): SafeHtml {
  const created = formatDate(release.created);
  if (file.problem !== undefined) {
    return html`<li><code>${file.title}</code> (unavailable: the file name is unsafe because ${file.problem}; it is not served and archives leave it out)
<br><code class="digest">sha256 ${hexOf(file.digest)}</code></li>`;
  }
  return html`<li><a href="${filePath(release.repository, release.version, file.name, platform)}">${file.name}</a>${file.main ? ' (program)' : ''}
<br><span class="meta">${formatSize(file.size)}${created ? `, ${created}` : ''}</span>
<br><code class="digest">sha256 ${hexOf(file.digest)}</code></li>`;
}

function renderVersions(model: ReleasePageModel): SafeHtml | false {
  const { release, versions } = model;
  if (versions.length <= 1) return false;
  const items = versions.map((version) => {
    const current = version.tag === release.version;
    const marks = [version.tag === model.latest ? 'latest' : '', version.prerelease ? 'prerelease' : '']
      .filter(Boolean)
      .join(', ');
    const link = current
      ? html`<strong aria-current="page">${version.tag}</strong>`
      : html`<a href="${pagePath(release.repository, version.tag)}">${version.tag}</a>`;
    return html`<li>${link}${marks ? html` <span class="meta">(${marks})</span>` : false}</li>`;
  });
  return html`<nav aria-labelledby="versions"><h2 id="versions">Versions</h2><ul>${items}</ul></nav>`;
}

function layout(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><a href="/">Downloads</a></header>
<main id="main">
${body}
</main>
<footer>Served by ocidrop from an OCI registry.</footer>
</body>
</html>
`.value;
}

function heading(error: GatewayError): string {
  switch (error.code) {
    case 'PLATFORM_NOT_AVAILABLE':
      return 'No build for this platform';
    case 'PLATFORM_UNKNOWN':
      return 'Choose a platform';
    case 'NOT_AN_ARTIFACT':
      return 'Not a downloadable artifact';
    case 'BAD_REQUEST':
      return 'Bad request';
    case 'METHOD_NOT_ALLOWED':
      return 'Method not allowed';
    case 'RANGE_NOT_SATISFIABLE':
      return 'Range not satisfiable';
    case 'UNAUTHORIZED':
      return 'Sign-in required';
    case 'LINK_EXPIRED':
      return 'This link expired';
    case 'LINK_INVALID':
      return 'This link is not valid';
    default:
      return error.status >= 500 ? 'Something went wrong' : 'Not found';
  }
}

// A release asked for by digest is `host/repository@digest`, by tag `host/repository:tag`.
function referenceText(host: string, release: Release): string {
  const separator = release.version.includes(':') ? '@' : ':';
  return `${host}/${release.repository}${separator}${release.version}`;
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}
