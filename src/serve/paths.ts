/**
 * The default data folder of `ocidrop serve`, used when no `--data` folder is given.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Returns the per-user data folder: `$XDG_DATA_HOME/ocidrop` or `~/.local/share/ocidrop` on Linux
 * and the BSDs, `~/Library/Application Support/ocidrop` on macOS, `%LOCALAPPDATA%\ocidrop` on Windows.
 */
export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (platform === 'win32') {
    return join(env['LOCALAPPDATA'] || join(homedir(), 'AppData', 'Local'), 'ocidrop');
  }
  if (platform === 'darwin') {
    return join(homedir(), 'Library', 'Application Support', 'ocidrop');
  }
  const xdgDataHome = env['XDG_DATA_HOME'];
  // The XDG base directory spec says a relative value is invalid and must be ignored.
  if (xdgDataHome?.startsWith('/')) return join(xdgDataHome, 'ocidrop');
  return join(homedir(), '.local', 'share', 'ocidrop');
}
