"""Fetching the LibreOffice help pages: ``apt-get download`` the Debian packages, ``dpkg -x`` them.

Nothing is installed: the ``.deb`` files are downloaded into a cache folder
(no root needed, only the Debian mirror) and unpacked next to them::

    CACHE/debs/libreoffice-help-de_4%3a7.4.7-1+deb12u14_all.deb ...
    CACHE/extracted/usr/share/libreoffice/help/{en-US,de,es,fr,zh-CN}/text/...

A finished extraction is reused; so are ``.deb`` files already in ``CACHE/debs``
(drop your own there where the mirror cannot be reached).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence

from xling_jax import log
from xling_jax.errors import UserError

logger = log.get_logger(__name__)

# language code -> (Debian package, folder under usr/share/libreoffice/help)
PACKAGES: Dict[str, str] = {
    'en': 'libreoffice-help-en-us',
    'de': 'libreoffice-help-de',
    'es': 'libreoffice-help-es',
    'fr': 'libreoffice-help-fr',
    'zh': 'libreoffice-help-zh-cn',
}
HELP_DIRS: Dict[str, str] = {'en': 'en-US', 'de': 'de', 'es': 'es', 'fr': 'fr', 'zh': 'zh-CN'}
HELP_ROOT = os.path.join('usr', 'share', 'libreoffice', 'help')
# The commands run (module-level so that tests can replace them).
DOWNLOAD_COMMAND: Sequence[str] = ('apt-get', 'download')
UPDATE_COMMAND: Sequence[str] = ('apt-get', 'update')
EXTRACT_COMMAND: Sequence[str] = ('dpkg', '-x')
_DONE = '.complete'  # written into extracted/ last: names the unpacked .deb files

__all__ = ['PACKAGES', 'HELP_DIRS', 'DOWNLOAD_COMMAND', 'EXTRACT_COMMAND', 'fetch', 'deb_versions']


def _debs_dir(cache_dir: str) -> str:
    return os.path.join(cache_dir, 'debs')


def _find_deb(debs_dir: str, package: str) -> Optional[str]:
    found = sorted(glob.glob(os.path.join(debs_dir, f'{package}_*.deb')))
    return found[-1] if found else None


def _run(cmd: List[str], cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          env=dict(os.environ, DEBIAN_FRONTEND='noninteractive', LC_ALL='C'))


def _last_error(res: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in res.stderr.decode('utf-8', 'replace').splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith('E:')]
    return (errors or lines or [''])[-1][:300]


def _update_package_lists() -> None:
    cmd = list(UPDATE_COMMAND)
    if hasattr(os, 'geteuid') and os.geteuid() != 0:
        if shutil.which('sudo') is None:
            raise UserError("`apt-get update` needs root and sudo is not available; run it as root, "
                            "then build libreoffice_help again")
        cmd = ['sudo', *cmd]
    logger.info('+ ' + ' '.join(cmd))
    try:
        res = subprocess.run(cmd, check=False)
    except OSError as e:
        raise UserError(f"could not run {' '.join(cmd)}: {e.strerror}") from None
    if res.returncode != 0:
        raise UserError(f"`{' '.join(cmd)}` failed with exit status {res.returncode}; check that the "
                        "Debian mirror in /etc/apt/sources.list is reachable")


def _download(packages: Sequence[str], debs_dir: str) -> None:
    cmd = [*DOWNLOAD_COMMAND, *packages]
    shown = ' '.join(cmd)
    how = (f"check that the Debian mirror is reachable and run `sudo apt-get update` (or build with "
           f"--install, which runs it), or put the .deb files of {' '.join(packages)} into {debs_dir}")
    logger.info(f'+ (cd {debs_dir} && {shown})')
    try:
        res = _run(cmd, cwd=debs_dir)
    except OSError as e:  # no apt-get: not a Debian system
        raise UserError(f"cannot run `{shown}` ({e.strerror}); on a system without apt-get, download the "
                        f".deb files of {' '.join(packages)} from a Debian mirror into {debs_dir}") from None
    missing = [p for p in packages if _find_deb(debs_dir, p) is None]
    if res.returncode != 0 or missing:
        err = _last_error(res)
        raise UserError(f"`{shown}` failed (exit status {res.returncode}{': ' + err if err else ''}); {how}")


def _extract(debs: Sequence[str], target: str) -> None:
    tool = shutil.which(EXTRACT_COMMAND[0])
    if tool is None:
        raise UserError(f"`{EXTRACT_COMMAND[0]}` not found: unpacking the .deb files needs dpkg "
                        "(Debian/Ubuntu: `sudo apt-get install dpkg`)")
    for deb in debs:
        res = _run([tool, *EXTRACT_COMMAND[1:], deb, target])
        if res.returncode != 0:
            raise UserError(f"`{' '.join(EXTRACT_COMMAND)} {deb}` failed (exit status {res.returncode}: "
                            f"{_last_error(res)}); delete the file and build again to download it anew")


def _complete(extracted: str, languages: Sequence[str]) -> bool:
    return os.path.exists(os.path.join(extracted, _DONE)) and all(
        os.path.isdir(os.path.join(extracted, HELP_ROOT, HELP_DIRS[lang], 'text')) for lang in languages)


def fetch(cache_dir: str, languages: Sequence[str] = tuple(PACKAGES), *, update: bool = False) -> str:
    """Download (if needed) and unpack the help packages; returns the ``.../help`` folder.

    The pages of language ``xx`` are then under ``RESULT/HELP_DIRS[xx]/text``.
    ``update`` runs ``apt-get update`` first (through sudo when not root).
    Raises :class:`UserError` (one line) when the download or the unpacking fails.
    """
    extracted = os.path.join(cache_dir, 'extracted')
    if _complete(extracted, languages):
        return os.path.join(extracted, HELP_ROOT)
    debs_dir = _debs_dir(cache_dir)
    try:
        os.makedirs(debs_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {debs_dir}: {e.strerror}; pass another --data_dir") from None
    packages = [PACKAGES[lang] for lang in languages]
    missing = [p for p in packages if _find_deb(debs_dir, p) is None]
    if missing:
        if update:
            _update_package_lists()
        _download(missing, debs_dir)
    debs = [_find_deb(debs_dir, p) for p in packages]
    # Unpack into a fresh folder and move it into place: a half-unpacked cache is never reused.
    tmp = tempfile.mkdtemp(prefix='extracting-', dir=cache_dir)
    try:
        _extract(debs, tmp)
        with open(os.path.join(tmp, _DONE), 'w', encoding='utf-8') as f:
            f.write(''.join(os.path.basename(d) + '\n' for d in debs))
        if os.path.exists(extracted):
            shutil.rmtree(extracted)
        os.rename(tmp, extracted)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    if not _complete(extracted, languages):
        raise UserError(f"the .deb files in {debs_dir} hold no help pages under {HELP_ROOT} for some of "
                        f"{', '.join(languages)}; delete {cache_dir} and build again")
    return os.path.join(extracted, HELP_ROOT)


def deb_versions(cache_dir: str) -> Dict[str, str]:
    """{package: version} of the unpacked .deb files (from their file names), for the dataset's metadata."""
    try:
        with open(os.path.join(cache_dir, 'extracted', _DONE), encoding='utf-8') as f:
            names = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return {}
    versions = {}
    for name in names:
        parts = name[:-len('.deb')].split('_')
        if len(parts) >= 2:
            versions[parts[0]] = parts[1].replace('%3a', ':')
    return versions
