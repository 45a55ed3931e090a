#!/usr/bin/env bash
# SBOMs end to end on the hermetic Debian fixture (tests/fixtures/debian, read via file://):
# `strata build -o oci:DIR` writes sbom.spdx.json and sbom.cdx.json beside the layout, both
# valid against the official SPDX 2.3 and CycloneDX 1.5 JSON schemas (tests/fixtures/sbom)
# and naming each package's layer; `strata sbom` gives the same bytes; `strata diff` between
# two locks; `strata outdated` (up to date, then an older pinned version listed); and
# `strata build --push` to `strata registry serve` attaches the SPDX SBOM as an OCI referrer.
source "$(dirname "$0")/lib.sh"
require_tools dpkg-deb gpg gpgv xz curl python3
source "$(dirname "$0")/fixtures.sh"
use_debian_fixture
SCHEMAS=$STRATA_SOURCE_DIR/tests/fixtures/sbom

printf 'model weights\n' >"$WORK/model.bin"
MODEL_SHA=$(sha256sum "$WORK/model.bin" | cut -d' ' -f1)

P=$WORK/project
mkdir -p "$P"
write_recipe() {  # write_recipe PACKAGES
  cat >"$P/strata.toml" <<TOML
[recipe]
name = "sbom-image"

$(fixture_debian_table)

$(fixture_base_layer)

[[layer]]
name = "apps"
  [[layer.step]]
  type = "debian"
  packages = [$1]

[[layer]]
name = "data"
  [[layer.step]]
  type = "fetch"
  url = "file://$WORK/model.bin"
  sha256 = "$MODEL_SHA"
  dest = "/opt/model.bin"
TOML
}

# validate KIND FILE: validates FILE against the official schema of KIND (spdx|cyclonedx).
validate() {
  python3 - "$SCHEMAS" "$1" "$2" <<'PY'
import json, os, sys
import jsonschema
fixtures, kind, path = sys.argv[1:4]
def load(name):
    with open(os.path.join(fixtures, name), encoding="utf-8") as f:
        return json.load(f)
if kind == "spdx":
    schema, extra = load("spdx-schema.json"), []
else:
    schema = load("bom-1.5.schema.json")
    extra = [load("spdx.schema.json"), load("jsf-0.82.schema.json")]
with open(path, encoding="utf-8") as f:
    doc = json.load(f)
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
try:  # jsonschema >= 4.18
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7
    registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s, default_specification=DRAFT7)) for s in extra])
    validator = cls(schema, registry=registry, format_checker=jsonschema.FormatChecker())
except ImportError:  # Debian 12's jsonschema 4.10
    resolver = jsonschema.RefResolver.from_schema(schema, store={s["$id"]: s for s in extra})
    validator = cls(schema, resolver=resolver, format_checker=jsonschema.FormatChecker())
errors = list(validator.iter_errors(doc))
for e in errors[:20]:
    print(f"{path}: {list(e.absolute_path)}: {e.message[:300]}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

write_recipe '"hello"'
strata lock "$P" >/dev/null 2>&1 || fail "strata lock failed"
cp "$P/strata.lock" "$WORK/lock.1"

# --- build -o oci:DIR writes both SBOMs beside the layout ----------------------------------
strata --json build "$P" --locked -o "oci:$WORK/layout" >"$WORK/b1.json" 2>"$WORK/b1.err" ||
  fail "locked build failed: $(cat "$WORK/b1.err" "$WORK/b1.json")"
M1=$(json_get "$WORK/b1.json" 'd["manifest"]')
SPDX=$WORK/layout/sbom.spdx.json
CDX=$WORK/layout/sbom.cdx.json
[ -f "$SPDX" ] && [ -f "$CDX" ] || fail "no SBOMs beside the layout: $(ls "$WORK/layout")"
ls "$WORK/layout/blobs/sha256" | grep -q . || fail "the layout has no blobs"
[ "$(json_get "$WORK/b1.json" 'len(d["sboms"])')" = 2 ] || fail "--json does not list the SBOMs"
validate spdx "$SPDX" || fail "the SPDX SBOM is not valid SPDX 2.3"
validate cyclonedx "$CDX" || fail "the CycloneDX SBOM is not valid CycloneDX 1.5"
# The validation can fail: a broken document is refused.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["packages"][1]["checksums"][0]["algorithm"]="SHA-256"; json.dump(d,open(sys.argv[2],"w"))' \
  "$SPDX" "$WORK/broken.spdx.json"
validate spdx "$WORK/broken.spdx.json" 2>/dev/null && fail "the SPDX schema accepted a broken document"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["components"][0]["hashes"][0]["content"]="xyz"; json.dump(d,open(sys.argv[2],"w"))' \
  "$CDX" "$WORK/broken.cdx.json"
validate cyclonedx "$WORK/broken.cdx.json" 2>/dev/null && fail "the CycloneDX schema accepted a broken document"
pass "build -o oci:DIR writes SPDX 2.3 and CycloneDX 1.5 SBOMs that validate against the schemas"

python3 - "$SPDX" "$CDX" "$WORK/b1.json" "$P/strata.lock" "$MODEL_SHA" "file://$WORK/model.bin" <<'PY' || fail "SBOM content does not match the build and the lock"
import json, sys, tomllib, uuid
spdx, cdx, build = (json.load(open(p)) for p in sys.argv[1:4])
lock = tomllib.load(open(sys.argv[4], "rb"))
model_sha, model_url = sys.argv[5:7]
manifest = build["manifest"]
layers = [l["digest"] for l in build["layers"]]
locked = {p["name"]: (l["layer"], p) for l in lock["layer"] for p in l["packages"]}
hello = next(p for p in spdx["packages"] if p["name"] == "hello")
assert hello["versionInfo"] == "2.10-3", hello
assert hello["checksums"] == [{"algorithm": "SHA256", "checksumValue": locked["hello"][1]["sha256"].split(":")[-1]}], hello
purls = [r["referenceLocator"] for r in hello["externalRefs"] if r["referenceType"] == "purl"]
assert purls == ["pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-trixie"], purls
assert "sbom-image/apps" in hello["comment"] and layers[1] in hello["comment"], hello["comment"]
names = {p["name"] for p in spdx["packages"]}
assert set(locked) <= names, set(locked) - names
image = next(p for p in spdx["packages"] if p["SPDXID"] == "SPDXRef-Image")
assert image["primaryPackagePurpose"] == "CONTAINER" and image["versionInfo"] == manifest, image
model = next(p for p in spdx["packages"] if p["downloadLocation"] == model_url)
assert model["checksums"][0]["checksumValue"] == model_sha, model
assert "image layer 3" in model["comment"], model["comment"]
rels = spdx["relationships"]
assert {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"} in rels
assert sum(r["relationshipType"] == "CONTAINS" for r in rels) == len(spdx["packages"]) - 1
assert spdx["documentNamespace"] == "https://strata.invalid/spdx/sbom-image-" + manifest.split(":")[1]
want = uuid.uuid5(uuid.NAMESPACE_URL, "https://strata.invalid/cyclonedx/sbom-image-" + manifest.split(":")[1])
assert cdx["serialNumber"] == f"urn:uuid:{want}", cdx["serialNumber"]
assert cdx["metadata"]["component"]["version"] == manifest
comp = {c["name"]: c for c in cdx["components"]}
props = {p["name"]: p["value"] for p in comp["hello"]["properties"]}
assert props["strata:layer"] == "sbom-image/apps" and props["strata:layer-digest"] == layers[1], props
base = {p["name"]: p["value"] for p in comp["base-files"]["properties"]}
assert base["strata:layer"] == "sbom-image/base", base
assert comp["model.bin"]["type"] == "file" and comp["model.bin"]["hashes"][0]["content"] == model_sha
PY
pass "SBOMs name every locked package with its purl, checksum and layer, and the fetched file"

# --- strata sbom gives the same bytes -------------------------------------------------------
strata sbom "$P" >"$WORK/s.spdx.json" 2>"$WORK/s.err" || fail "strata sbom: $(cat "$WORK/s.err")"
cmp -s "$WORK/s.spdx.json" "$SPDX" || fail "strata sbom differs from the SBOM beside the layout"
strata -q sbom "$P" --format cyclonedx -o "$WORK/s.cdx.json"
cmp -s "$WORK/s.cdx.json" "$CDX" || fail "strata sbom --format cyclonedx differs"
rm "$P/strata.lock"
expect_fail 7 strata sbom "$P"
grep -q "strata lock" "$WORK/err" || fail "sbom without a lock does not say what to do: $(cat "$WORK/err")"
cp "$WORK/lock.1" "$P/strata.lock"
pass "strata sbom prints the same SBOMs and refuses to resolve without a lock"

# --- push with the SBOM as a referrer --------------------------------------------------------
PORT=$(free_port)
"$STRATA_BIN" registry serve --root "$WORK/reg" --addr "127.0.0.1:$PORT" >"$WORK/serve.out" 2>&1 &
SERVER=$!
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
on_exit stop_server
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v2/" 2>/dev/null && break
  sleep 0.1
done
strata --json build "$P" --locked --push "127.0.0.1:$PORT/sbom/img:v1" >"$WORK/push.json" 2>"$WORK/push.err" ||
  fail "build --push failed: $(cat "$WORK/push.err" "$WORK/push.json")"
[ "$(json_get "$WORK/push.json" 'd["pushed"]["digest"]')" = "$M1" ] || fail "pushed another manifest"
REFERRER=$(json_get "$WORK/push.json" 'd["pushed"]["sbom"]')
curl -fsS "http://127.0.0.1:$PORT/v2/sbom/img/referrers/$M1?artifactType=application/spdx%2Bjson" \
  >"$WORK/referrers.json" || fail "referrers request failed"
[ "$(json_get "$WORK/referrers.json" '[m["digest"] for m in d["manifests"] if m.get("artifactType") == "application/spdx+json"]')" = "['$REFERRER']" ] ||
  fail "the SBOM referrer is not listed: $(cat "$WORK/referrers.json")"
curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://127.0.0.1:$PORT/v2/sbom/img/manifests/$REFERRER" >"$WORK/referrer.json"
[ "$(json_get "$WORK/referrer.json" 'd["subject"]["digest"]')" = "$M1" ] || fail "referrer subject is wrong"
[ "$(json_get "$WORK/referrer.json" 'd["config"]["mediaType"]')" = application/vnd.oci.empty.v1+json ] ||
  fail "referrer config is not the empty descriptor"
BLOB=$(json_get "$WORK/referrer.json" 'd["layers"][0]["digest"]')
[ "$(json_get "$WORK/referrer.json" 'd["layers"][0]["mediaType"]')" = application/spdx+json ] ||
  fail "the SBOM layer has the wrong media type"
curl -fsS "http://127.0.0.1:$PORT/v2/sbom/img/blobs/$BLOB" >"$WORK/pushed.spdx.json"
cmp -s "$WORK/pushed.spdx.json" "$SPDX" || fail "the pushed SBOM differs from the one beside the layout"
curl -fsS "http://127.0.0.1:$PORT/v2/sbom/img/tags/list" | grep -q '"v1"' || fail "tag v1 not pushed"
pass "build --push pushes the image and attaches its SPDX SBOM as a referrer"

# --- diff between two locks --------------------------------------------------------------------
write_recipe '"hello", "python3-six"'
strata lock "$P" >/dev/null 2>&1
cp "$P/strata.lock" "$WORK/lock.2"
strata diff "$WORK/lock.1" "$WORK/lock.2" >"$WORK/diff.out"
grep -qx '+ sbom-image/apps python3-six 1.16.0-7' "$WORK/diff.out" || fail "diff: $(cat "$WORK/diff.out")"
grep -q '^- ' "$WORK/diff.out" && fail "diff reports removals: $(cat "$WORK/diff.out")"
strata --json diff "$WORK/lock.2" "$WORK/lock.1" >"$WORK/diff.json"
[ "$(json_get "$WORK/diff.json" '[c["change"] for c in d["changes"] if c["name"] == "python3-six"]')" = "['removed']" ] ||
  fail "diff --json: $(cat "$WORK/diff.json")"
sed 's/name = "hello", version = "2.10-3"/name = "hello", version = "2.10-2"/' "$WORK/lock.1" >"$WORK/lock.old"
grep -q '"2.10-2"' "$WORK/lock.old" || fail "could not make an older lock"
strata diff "$WORK/lock.old" "$WORK/lock.1" >"$WORK/diff2.out"
grep -qx '~ sbom-image/apps hello:amd64 2.10-2 -> 2.10-3' "$WORK/diff2.out" || fail "diff: $(cat "$WORK/diff2.out")"
expect_fail 4 strata diff "$WORK/lock.1" "$WORK/no-such.lock"
pass "diff lists added, removed and changed packages per layer"

# --- outdated -----------------------------------------------------------------------------------
strata outdated "$P" >"$WORK/outdated.out" 2>&1 || fail "outdated: $(cat "$WORK/outdated.out")"
grep -q "up to date" "$WORK/outdated.out" || fail "outdated: $(cat "$WORK/outdated.out")"
sed -i 's/name = "hello", version = "2.10-3"/name = "hello", version = "2.10-2"/' "$P/strata.lock"
strata outdated "$P" >"$WORK/outdated.out" 2>/dev/null
grep -Eq '^sbom-image/apps +hello:amd64 +2\.10-2 +2\.10-3$' "$WORK/outdated.out" ||
  fail "an older pinned hello is not listed: $(cat "$WORK/outdated.out")"
[ "$(grep -c . "$WORK/outdated.out")" = 2 ] || fail "outdated lists more than hello: $(cat "$WORK/outdated.out")"
strata --json outdated "$P" >"$WORK/outdated.json"
[ "$(json_get "$WORK/outdated.json" '[(o["name"], o["locked"], o["available"]) for o in d["outdated"]]')" = "[('hello', '2.10-2', '2.10-3')]" ] ||
  fail "outdated --json: $(cat "$WORK/outdated.json")"
pass "outdated: up to date, then an older pinned version is listed"
