# Recipe fixtures for integration tests (sourced after lib.sh).

# make_project DIR: a three-layer recipe with copied files, an inline file and config.
make_project() {
  local dir=$1
  mkdir -p "$dir/app/lib" "$dir/data"
  printf '#!/bin/sh\necho "hello from strata"\n' >"$dir/app/hello.sh"
  chmod 755 "$dir/app/hello.sh"
  printf 'helper\n' >"$dir/app/lib/helper.txt"
  ln -sf hello.sh "$dir/app/run"
  head -c 200000 /dev/urandom >"$dir/data/blob.bin"
  printf 'a,b\n1,2\n' >"$dir/data/table.csv"
  cat >"$dir/strata.toml" <<'TOML'
# integration-test project
[recipe]
name = "itest"
source_date_epoch = 1700000000

[[layer]]
name = "data"
  [[layer.step]]
  type = "copy"
  src = "data"
  dest = "/srv/data/"

[[layer]]
name = "app"
  [[layer.step]]
  type = "copy"
  src = "app"
  dest = "/opt/app/"
  mode = 0o755
  owner = "1000:1000"

[[layer]]
name = "etc"
  [[layer.step]]
  type = "file"
  path = "/etc/motd"
  content = "built by strata\n"
  mode = 0o644

[config]
env = { LANG = "C.UTF-8", APP_HOME = "/opt/app" }
cmd = ["/opt/app/hello.sh"]
workdir = "/opt/app"
user = "1000:1000"
labels = { "org.example.team" = "ml" }
ports = ["8888/tcp"]
TOML
}

# use_debian_fixture: builds the signed test archive (tests/fixtures/debian) into $WORK/fixture,
# sets FIX to it and points STRATA_DEBIAN_MIRROR at it (file://).
use_debian_fixture() {
  require_tools dpkg-deb gpg gpgv xz ldd
  FIX=$WORK/fixture
  bash "$STRATA_SOURCE_DIR/tests/fixtures/debian/make_archive.sh" "$FIX" >/dev/null
  export STRATA_DEBIAN_MIRROR="file://$FIX/archive"
}

# fixture_debian_table [EXTRA_LINE...]: the [debian] table of a recipe that installs from the
# test archive (after use_debian_fixture), with any extra lines (e.g. architectures) at the
# end of the table; for use inside a recipe heredoc: $(fixture_debian_table).
fixture_debian_table() {
  printf '[debian]\nsuite = "trixie"\ncomponents = ["main", "system"]\nkeyring = "%s"\n' \
    "$FIX/keyring.gpg"
  local line
  for line in "$@"; do
    printf '%s\n' "$line"
  done
}

# fixture_base_layer: the layer "base" that installs the test archive's minbase (the
# Essential packages and host-tools, whose dpkg configures the layers above), for a recipe
# heredoc after $(fixture_debian_table); lines written after it (e.g. packages = [...]) add
# to its step.
fixture_base_layer() {
  printf '[[layer]]\nname = "base"\n  [[layer.step]]\n  type = "debian"\n  priority = "minbase"\n'
}
