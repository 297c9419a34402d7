# Installs what the build and the tests need, or says clearly what is missing. Sourced by build.sh.

APT_UPDATED=0

apt_install() {
  # Installs Debian packages that are not yet installed; needs root (or sudo) and apt-get.
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo="sudo" || {
      echo "error: need Debian packages ${missing[*]} but am not root and sudo is missing; install them and rerun." >&2
      exit 1
    }
  fi
  command -v apt-get >/dev/null 2>&1 || {
    echo "error: need ${missing[*]} and apt-get is not available; install them with your package manager and rerun." >&2
    exit 1
  }
  echo "==> Installing ${missing[*]} (apt-get)"
  if [ "$APT_UPDATED" -eq 0 ]; then
    $sudo apt-get update -qq >/dev/null || echo "warning: apt-get update failed; trying the install anyway" >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    echo "error: apt-get could not install ${missing[*]}." >&2
    exit 1
  }
}

require_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET 10 SDK is required (dotnet not found on PATH). See https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
    exit 1
  fi
  local major
  major=$(dotnet --version 2>/dev/null | cut -d. -f1)
  if [ "${major:-0}" -lt 10 ]; then
    echo "error: the .NET 10 SDK is required; found $(dotnet --version 2>/dev/null || echo none)." >&2
    exit 1
  fi
}

require_test_packages() {
  # redis-server for directory tests; cmake and rdma-core headers for the native shim.
  apt_install redis-server redis-tools cmake libibverbs-dev
}
