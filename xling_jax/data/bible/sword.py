"""Locating and exporting the SWORD Bible modules shipped as Debian packages.

The corpus is built from three modules installed by Debian packages:

==============  ==================  =================================
module          package             text
==============  ==================  =================================
engKJV2006eb    sword-text-kjv      King James Version (with Strong's)
engWEB2015eb    sword-text-web      World English Bible
spaRV1909eb     sword-text-sparv    Reina-Valera 1909 (with Strong's)
==============  ==================  =================================

``mod2imp`` (package ``libsword-utils``) exports a module's raw OSIS markup in
SWORD's "imp" format: a ``$$$Book C:V`` header line per entry followed by the
entry's markup.
"""
from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from xling_jax import log
from xling_jax.errors import UserError

logger = log.get_logger(__name__)

REQUIRED_PACKAGES = ('sword-text-kjv', 'sword-text-web', 'sword-text-sparv', 'libsword-utils')

KJV_MODULE = 'engKJV2006eb'
WEB_MODULE = 'engWEB2015eb'
RV_MODULE = 'spaRV1909eb'
MODULE_PACKAGES = {KJV_MODULE: 'sword-text-kjv', WEB_MODULE: 'sword-text-web', RV_MODULE: 'sword-text-sparv'}
EXPORT_TOOL = 'mod2imp'

__all__ = [
    'REQUIRED_PACKAGES', 'KJV_MODULE', 'WEB_MODULE', 'RV_MODULE', 'MODULE_PACKAGES',
    'missing_packages', 'install_command', 'install_packages', 'check_packages',
    'export_module', 'export_modules', 'parse_imp',
]

_SWORD_DIRS = ('/usr/share/sword', '/usr/local/share/sword')


def _dpkg_installed(package: str) -> Optional[bool]:
    """True/False from dpkg-query; None when dpkg-query is unavailable."""
    try:
        res = subprocess.run(['dpkg-query', '-W', '-f=${Status}', package],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
    except (FileNotFoundError, PermissionError):
        return None
    return res.returncode == 0 and res.stdout.strip().endswith('install ok installed')


def _sword_dirs() -> List[str]:
    dirs = []
    if os.environ.get('SWORD_PATH'):
        dirs.append(os.environ['SWORD_PATH'])
    dirs.append(os.path.join(os.path.expanduser('~'), '.sword'))
    dirs.extend(_SWORD_DIRS)
    return dirs


def _module_installed(module: str) -> bool:
    want = module.lower() + '.conf'
    for d in _sword_dirs():
        mods = os.path.join(d, 'mods.d')
        try:
            if any(f.lower() == want for f in os.listdir(mods)):
                return True
        except OSError:
            continue
    return False


def _artifact_present(package: str) -> bool:
    if package == 'libsword-utils':
        return shutil.which(EXPORT_TOOL) is not None
    return all(_module_installed(m) for m, p in MODULE_PACKAGES.items() if p == package)


def missing_packages() -> List[str]:
    """Required Debian packages that are not installed (or whose files are missing).

    A package counts as installed when ``dpkg-query`` reports it installed and
    what it provides (``mod2imp``, the module's ``.conf``) is found; where
    dpkg-query does not exist, finding what it provides is enough.
    """
    missing = []
    for pkg in REQUIRED_PACKAGES:
        status = _dpkg_installed(pkg)
        present = _artifact_present(pkg)
        if status is False or not present:
            missing.append(pkg)
    return missing


def _needs_sudo() -> bool:
    return hasattr(os, 'geteuid') and os.geteuid() != 0


def install_command(packages: Optional[Sequence[str]] = None) -> str:
    """The shell line that installs ``packages`` (default: the missing ones, else all required)."""
    if packages is None:
        packages = missing_packages() or list(REQUIRED_PACKAGES)
    prefix = 'sudo ' if _needs_sudo() else ''
    return f"{prefix}apt-get install -y {' '.join(packages)}"


def _missing_message(missing: Sequence[str]) -> str:
    return (f"missing Debian package{'s' if len(missing) > 1 else ''} {', '.join(missing)} needed for the "
            f"bible dataset; install with: {install_command(missing)} "
            f"(or run `xling data build bible --install`, which runs it)")


def check_packages() -> None:
    """Raise UserError (one line naming the packages and the apt-get line) if any is missing."""
    missing = missing_packages()
    if missing:
        raise UserError(_missing_message(missing))


def install_packages(packages: Optional[Sequence[str]] = None) -> None:
    """Install the missing packages with apt-get (via sudo when not root), non-interactively."""
    if packages is None:
        packages = missing_packages()
    packages = list(packages)
    if not packages:
        return
    if shutil.which('apt-get') is None:
        raise UserError(f"apt-get not found; install the Debian packages {', '.join(packages)} by other means")
    prefix: List[str] = []
    if _needs_sudo():
        if shutil.which('sudo') is None:
            raise UserError(f"installing {', '.join(packages)} needs root and sudo is not available; "
                            f"run as root: apt-get install -y {' '.join(packages)}")
        prefix = ['sudo', 'env', 'DEBIAN_FRONTEND=noninteractive']
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for cmd in (['apt-get', 'update'], ['apt-get', 'install', '-y', *packages]):
        logger.info('+ ' + ' '.join(prefix + cmd))
        try:
            res = subprocess.run(prefix + cmd, env=env, check=False)
        except OSError as e:
            raise UserError(f"could not run {' '.join(prefix + cmd)}: {e.strerror}") from None
        if res.returncode != 0:
            raise UserError(f"`{' '.join(prefix + cmd)}` failed with exit status {res.returncode}")
    still = [p for p in packages if p in missing_packages()]
    if still:
        raise UserError(f"packages still missing after apt-get install: {', '.join(still)}")


def export_module(name: str) -> str:
    """The module's raw markup as exported by ``mod2imp NAME``."""
    tool = shutil.which(EXPORT_TOOL)
    if tool is None:
        raise UserError(_missing_message(['libsword-utils']))
    if not _module_installed(name):
        pkg = MODULE_PACKAGES.get(name)
        raise UserError(_missing_message([pkg]) if pkg else f"SWORD module {name} is not installed")
    res = subprocess.run([tool, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    text = res.stdout.decode('utf-8', errors='replace')
    if res.returncode != 0 or '$$$' not in text:
        err = res.stderr.decode('utf-8', errors='replace').strip().splitlines()
        raise UserError(f"{EXPORT_TOOL} {name} failed (exit status {res.returncode})"
                        + (f": {err[-1]}" if err else ''))
    return text


def export_modules(names: Iterable[str]) -> Dict[str, str]:
    """Export several modules concurrently (each mod2imp runs in its own process)."""
    names = list(names)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        return dict(zip(names, pool.map(export_module, names)))


_HEADER = re.compile(r'^\$\$\$(.+?) (\d+):(\d+)\s*$')


def parse_imp(text: str) -> Dict[Tuple[str, int, int], str]:
    """Parse mod2imp output into ``{(book_name, chapter, verse): raw_markup}``.

    Book names are SWORD's English names ('Genesis', 'I Samuel', 'Revelation of
    John', ...).  Chapter/book introductions appear with verse (or chapter) 0;
    module and testament headings (``$$$[ ... ]``) are skipped.  An entry that
    spans several lines keeps its newlines.
    """
    entries: Dict[Tuple[str, int, int], str] = {}
    key: Optional[Tuple[str, int, int]] = None
    buf: List[str] = []
    for line in text.split('\n'):
        if line.startswith('$$$'):
            if key is not None:
                entries[key] = '\n'.join(buf).strip('\n')
            m = _HEADER.match(line)
            key = (m.group(1), int(m.group(2)), int(m.group(3))) if m else None
            buf = []
        elif key is not None:
            buf.append(line.rstrip('\r'))
    if key is not None:
        entries[key] = '\n'.join(buf).strip('\n')
    return entries
