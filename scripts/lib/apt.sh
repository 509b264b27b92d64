# Sourced by the scripts that need Debian packages beyond scripts/setup's (clang for fuzzing,
# clang-format, clang-tidy): installs those of the packages given that are missing, through sudo
# unless root. $1 is the calling script's name, for the messages.
#   apt_install_missing scripts/format clang-format-14
apt_install_missing() {
  local who="$1" p missing=() sudo=()
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
      echo "${who}: need root (or sudo) to install: ${missing[*]}" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  echo "${who}: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}
