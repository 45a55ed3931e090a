// The PAX tar serialiser: exact header bytes, PAX records only where needed, and acceptance
// by libarchive and GNU tar.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "oci/tar_writer.hpp"
#include "oci_tar_read.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using strata::oci::TarEntry;
using strata::oci::TarType;
using strata::oci::TarWriter;
using strata::test::read_tar;

namespace {

struct RawEntry {
  char type = 0;
  std::string name;    // ustar name field
  std::string prefix;  // ustar prefix field
  std::string linkname;
  std::string size_field;
  std::string data;    // content (for 'x': the PAX records)
};

std::string field(const std::string& block, std::size_t off, std::size_t len) {
  std::string s = block.substr(off, len);
  s.resize(std::min(s.size(), s.find('\0')));
  return s;
}

// Walks the raw blocks of an archive, checking checksums and the end-of-archive marker.
std::vector<RawEntry> raw_entries(const std::string& tar) {
  REQUIRE(tar.size() % 512 == 0);
  std::vector<RawEntry> out;
  std::size_t off = 0;
  for (;;) {
    REQUIRE(off + 512 <= tar.size());
    const std::string block = tar.substr(off, 512);
    if (block == std::string(512, '\0')) {
      // Exactly two zero blocks end the archive, no record padding after them.
      REQUIRE(off + 1024 == tar.size());
      REQUIRE(tar.substr(off + 512) == std::string(512, '\0'));
      return out;
    }
    unsigned sum = 0;
    for (std::size_t i = 0; i < 512; ++i) {
      sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(block[i]);
    }
    CHECK(std::stoul(field(block, 148, 6), nullptr, 8) == sum);
    CHECK(block[154] == '\0');
    CHECK(block[155] == ' ');
    CHECK(block.substr(257, 8) == std::string("ustar\0" "00", 8));
    CHECK(block.substr(329, 16) == std::string("0000000\0" "0000000\0", 16));
    CHECK(field(block, 265, 32).empty());  // uname
    CHECK(field(block, 297, 32).empty());  // gname
    RawEntry e;
    e.type = block[156];
    e.name = field(block, 0, 100);
    e.prefix = field(block, 345, 155);
    e.linkname = field(block, 157, 100);
    e.size_field = block.substr(124, 12);
    const std::uint64_t size = std::stoull(field(block, 124, 12), nullptr, 8);
    off += 512;
    e.data = tar.substr(off, size);
    off += (size + 511) / 512 * 512;
    out.push_back(std::move(e));
  }
}

// Parses PAX records, checking that every length prefix is the record's exact length.
std::vector<std::pair<std::string, std::string>> pax_records(const std::string& data) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t space = data.find(' ', pos);
    REQUIRE(space != std::string::npos);
    const std::size_t len = std::stoul(data.substr(pos, space - pos));
    REQUIRE(pos + len <= data.size());
    const std::string record = data.substr(pos, len);
    REQUIRE(record.back() == '\n');
    const std::size_t eq = record.find('=');
    REQUIRE(eq != std::string::npos);
    const std::size_t key_start = space - pos + 1;
    out.emplace_back(record.substr(key_start, eq - key_start),
                     record.substr(eq + 1, record.size() - eq - 2));
    pos += len;
  }
  return out;
}

std::string write_all(const std::vector<std::pair<TarEntry, std::string>>& entries) {
  strata::util::StringSink sink;
  TarWriter w(sink);
  for (const auto& [e, content] : entries) {
    w.write_header(e);
    w.write_content(content.data(), content.size());
  }
  w.finish();
  return sink.take();
}

TarEntry entry(std::string path, TarType type, std::uint64_t size = 0) {
  TarEntry e;
  e.path = std::move(path);
  e.type = type;
  e.size = size;
  e.mode = type == TarType::Directory ? 0755 : 0644;
  e.mtime = 1700000000;
  return e;
}

}  // namespace

TEST_CASE("tar_path_less sorts bytewise, component by component, parents first") {
  std::vector<std::string> paths = {"b", "a.b", "ab", "a/c", "a/b/c", "a-b", "a", "a/b", "\xc3\xa9"};
  std::sort(paths.begin(), paths.end(), strata::oci::tar_path_less);
  CHECK(paths == std::vector<std::string>{"a", "a/b", "a/b/c", "a/c", "a-b", "a.b", "ab", "b",
                                          "\xc3\xa9"});
}

TEST_CASE("plain entries are single ustar headers that libarchive reads back exactly") {
  TarEntry dir = entry("d", TarType::Directory);
  dir.mode = 01777;
  TarEntry file = entry("d/f", TarType::File, 5);
  file.mode = 04755;
  file.uid = 1000;
  file.gid = 100;
  TarEntry link = entry("d/l", TarType::Symlink);
  link.mode = 0777;
  link.link_target = "f";
  TarEntry hard = entry("d/h", TarType::Hardlink);
  hard.link_target = "d/f";
  TarEntry fifo = entry("d/p", TarType::Fifo);
  const std::string tar =
      write_all({{dir, ""}, {file, "hello"}, {link, ""}, {hard, ""}, {fifo, ""}});

  // 5 headers + one content block + two end blocks, nothing else.
  CHECK(tar.size() == 512 * (5 + 1 + 2));
  const auto raw = raw_entries(tar);
  REQUIRE(raw.size() == 5);
  CHECK(raw[0].name == "d/");
  CHECK(raw[0].type == '5');
  CHECK(raw[1].size_field == std::string("00000000005\0", 12));
  CHECK(std::none_of(raw.begin(), raw.end(), [](const RawEntry& e) { return e.type == 'x'; }));

  const auto got = read_tar(tar);
  REQUIRE(got.size() == 5);
  CHECK(got[0].path == "d/");
  CHECK(got[0].type == AE_IFDIR);
  CHECK(got[0].perm == 01777);
  CHECK(got[1].path == "d/f");
  CHECK(got[1].type == AE_IFREG);
  CHECK(got[1].perm == 04755);
  CHECK(got[1].uid == 1000);
  CHECK(got[1].gid == 100);
  CHECK(got[1].uname.empty());
  CHECK(got[1].gname.empty());
  CHECK(got[1].mtime == 1700000000);
  CHECK_FALSE(got[1].atime_set);
  CHECK_FALSE(got[1].ctime_set);
  CHECK(got[1].content == "hello");
  CHECK(got[2].type == AE_IFLNK);
  CHECK(got[2].symlink == "f");
  CHECK(got[3].hardlink == "d/f");
  CHECK(got[4].type == AE_IFIFO);
}

TEST_CASE("paths use the ustar prefix when they can and PAX only when they must") {
  const std::string p100(100, 'a');
  const std::string split = std::string(120, 'b') + "/" + std::string(90, 'c');  // 211 bytes
  const std::string unsplittable = std::string(120, 'd') + "x";                // one component
  const std::string p300 = std::string(150, 'e') + "/" + std::string(149, 'f');
  const std::string utf8 = "caf\xc3\xa9/\xc3\xbc.txt";
  const std::string binary = "bad\xff" "name";
  std::vector<std::pair<TarEntry, std::string>> in;
  for (const auto& p : {p100, split, unsplittable, p300, utf8, binary}) {
    in.emplace_back(entry(p, TarType::File, 1), "x");
  }
  in.emplace_back(entry(std::string(99, 'g'), TarType::Directory), "");  // 100 with the '/'
  const std::string tar = write_all(in);
  const auto raw = raw_entries(tar);

  std::vector<RawEntry> headers;
  std::vector<std::string> pax_of;  // PAX records data preceding each header ("" if none)
  std::string pending;
  for (const auto& r : raw) {
    if (r.type == 'x') {
      pending = r.data;
      CHECK(r.name.starts_with("PaxHeaders/"));
      continue;
    }
    headers.push_back(r);
    pax_of.push_back(std::exchange(pending, {}));
  }
  REQUIRE(headers.size() == 7);
  CHECK(pax_of[0].empty());
  CHECK(headers[0].name == p100);
  CHECK(pax_of[1].empty());
  CHECK(headers[1].prefix == std::string(120, 'b'));
  CHECK(headers[1].name == std::string(90, 'c'));
  CHECK(pax_records(pax_of[2]) == std::vector<std::pair<std::string, std::string>>{
                                      {"path", unsplittable}});
  CHECK(pax_records(pax_of[3]) ==
        std::vector<std::pair<std::string, std::string>>{{"path", p300}});
  CHECK(pax_records(pax_of[4]) ==
        std::vector<std::pair<std::string, std::string>>{{"path", utf8}});
  CHECK(pax_records(pax_of[5]) == std::vector<std::pair<std::string, std::string>>{
                                      {"hdrcharset", "BINARY"}, {"path", binary}});
  CHECK(pax_of[6].empty());
  CHECK(headers[6].name == std::string(99, 'g') + "/");

  const auto got = read_tar(tar);
  REQUIRE(got.size() == 7);
  CHECK(got[0].path == p100);
  CHECK(got[1].path == split);
  CHECK(got[2].path == unsplittable);
  CHECK(got[3].path == p300);
  CHECK(got[4].path == utf8);
  CHECK(got[5].path == binary);
  CHECK(got[6].path == std::string(99, 'g') + "/");
}

TEST_CASE("PAX record lengths count their own digits across digit boundaries") {
  std::vector<std::pair<TarEntry, std::string>> in;
  for (std::size_t len = 95; len <= 1010; ++len) {
    TarEntry l = entry("l" + std::to_string(len), TarType::Symlink);
    l.link_target = std::string(len, 't');
    in.emplace_back(l, "");
  }
  const std::string tar = write_all(in);
  std::size_t pax_count = 0;
  for (const auto& r : raw_entries(tar)) {
    if (r.type == 'x') {
      const auto records = pax_records(r.data);  // checks every length prefix
      REQUIRE(records.size() == 1);
      CHECK(records[0].first == "linkpath");
      ++pax_count;
    }
  }
  CHECK(pax_count == 1010 - 100);  // targets of 101 bytes and more
  const auto got = read_tar(tar);
  REQUIRE(got.size() == in.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].symlink == in[i].first.link_target);
  }
}

TEST_CASE("large ids, out-of-range mtimes and huge sizes are carried by PAX records") {
  TarEntry big_ids = entry("ids", TarType::File);
  big_ids.uid = 3000000;
  big_ids.gid = 4294967294;
  TarEntry old = entry("old", TarType::File);
  old.mtime = -86400;
  TarEntry future = entry("future", TarType::File);
  future.mtime = std::int64_t{1} << 34;
  TarEntry edge = entry("edge", TarType::File);
  edge.uid = 2097151;  // 8^7 - 1 still fits
  edge.mtime = (std::int64_t{1} << 33) - 1;
  const std::string tar = write_all({{big_ids, ""}, {old, ""}, {future, ""}, {edge, ""}});
  const auto raw = raw_entries(tar);
  REQUIRE(raw.size() == 7);  // three PAX headers, none for `edge`
  CHECK(pax_records(raw[0].data) == std::vector<std::pair<std::string, std::string>>{
                                        {"gid", "4294967294"}, {"uid", "3000000"}});
  CHECK(pax_records(raw[2].data) ==
        std::vector<std::pair<std::string, std::string>>{{"mtime", "-86400"}});
  CHECK(raw[6].type == '0');
  const auto got = read_tar(tar);
  REQUIRE(got.size() == 4);
  CHECK(got[0].uid == 3000000);
  CHECK(got[0].gid == 4294967294);
  CHECK(got[1].mtime == -86400);
  CHECK(got[2].mtime == (std::int64_t{1} << 34));
  CHECK(got[3].uid == 2097151);
  CHECK(got[3].mtime == (std::int64_t{1} << 33) - 1);

  // A file of 8 GiB: its header carries a PAX size; the content itself is not written here.
  strata::util::StringSink sink;
  TarWriter w(sink);
  w.write_header(entry("huge", TarType::File, std::uint64_t{8} << 30));
  w.flush();
  const std::string head = sink.str();
  REQUIRE(head.size() == 3 * 512);
  CHECK(head[156] == 'x');
  CHECK(pax_records(head.substr(512, 512).substr(0, head.substr(512).find('\0'))) ==
        std::vector<std::pair<std::string, std::string>>{{"size", "8589934592"}});
  CHECK(head.substr(1024 + 124, 12) == std::string("00000000000\0", 12));
  CHECK_THROWS_AS(w.finish(), strata::util::Error);  // content missing
}

TEST_CASE("xattrs become sorted SCHILY.xattr records, binary values intact") {
  TarEntry f = entry("f", TarType::File);
  const std::string cap("\x01\x00\x00\x02\x00\x20\x00\x00", 8);
  f.xattrs = {{"user.b", "2"}, {"security.capability", cap}, {"user.a", "1"}};
  const std::string tar = write_all({{f, ""}});
  const auto raw = raw_entries(tar);
  REQUIRE(raw.size() == 2);
  CHECK(pax_records(raw[0].data) ==
        std::vector<std::pair<std::string, std::string>>{{"SCHILY.xattr.security.capability", cap},
                                                         {"SCHILY.xattr.user.a", "1"},
                                                         {"SCHILY.xattr.user.b", "2"}});
  const auto got = read_tar(tar);
  REQUIRE(got.size() == 1);
  CHECK(got[0].xattrs == std::map<std::string, std::string>{
                             {"security.capability", cap}, {"user.a", "1"}, {"user.b", "2"}});

  TarEntry bad = entry("g", TarType::File);
  bad.xattrs = {{"user.a=b", "1"}};
  strata::util::StringSink sink;
  TarWriter w(sink);
  CHECK_THROWS_AS(w.write_header(bad), strata::util::Error);
}

TEST_CASE("content accounting: short sources and missing content are errors") {
  strata::util::StringSink sink;
  TarWriter w(sink);
  w.write_header(entry("f", TarType::File, 10));
  strata::util::StringSource five("12345");
  try {
    w.copy_content(five, 10, "/src/f");
    FAIL("a source shorter than the declared size must fail");
  } catch (const strata::util::Error& e) {
    CHECK(e.kind() == strata::util::ErrorKind::IO);
    CHECK(std::string(e.what()).find("/src/f") != std::string::npos);
  }

  TarWriter w2(sink);
  w2.write_header(entry("f", TarType::File, 3));
  CHECK_THROWS_AS(w2.write_header(entry("g", TarType::File)), strata::util::Error);
  CHECK_THROWS_AS(w2.write_content("abcd", 4), strata::util::Error);

  TarWriter w3(sink);
  CHECK_THROWS_AS(w3.write_header(entry("d", TarType::Directory, 1)), strata::util::Error);
  CHECK_THROWS_AS(w3.write_header(entry("", TarType::File)), strata::util::Error);
}

TEST_CASE("content larger than the buffer streams through and pads correctly") {
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 7 + i / 4096);
  }
  strata::util::StringSink sink;
  TarWriter w(sink, 128 * 1024);
  w.write_header(entry("a", TarType::File, big.size()));
  strata::util::StringSource src(big);
  w.copy_content(src, big.size(), "a");
  w.write_header(entry("b", TarType::File, big.size()));
  w.write_content(big.data(), big.size());
  w.finish();
  CHECK(w.bytes_written() == sink.str().size());
  const auto got = read_tar(sink.str());
  REQUIRE(got.size() == 2);
  CHECK(got[0].content == big);
  CHECK(got[1].content == big);
}

TEST_CASE("GNU tar lists and extracts the output") {
  strata::util::TempDir dir("tar-writer");
  const std::string deep = std::string(120, 'd') + "/" + std::string(140, 'e') + "/file";
  TarEntry d1 = entry(std::string(120, 'd'), TarType::Directory);
  TarEntry d2 = entry(std::string(120, 'd') + "/" + std::string(140, 'e'), TarType::Directory);
  TarEntry f = entry(deep, TarType::File, 4);
  TarEntry u = entry("\xc3\xbcml\xc3\xa4ut", TarType::File, 2);
  TarEntry s = entry("sym", TarType::Symlink);
  s.link_target = std::string(200, 'z');
  TarEntry h = entry("zz-hard", TarType::Hardlink);
  h.link_target = deep;
  const std::string tar = write_all({{d1, ""}, {d2, ""}, {f, "data"}, {u, "hi"}, {s, ""},
                                     {h, ""}});
  const auto file = dir.path() / "out.tar";
  strata::util::write_file_atomic(file, tar);
  const auto listing = dir.path() / "list.txt";
  REQUIRE(strata::test::shell("tar -tvf '" + file.string() + "' > '" + listing.string() +
                              "' 2>&1") == 0);
  const std::string text = strata::util::read_file(listing);
  CHECK(text.find(deep) != std::string::npos);
  CHECK(text.find("0/0") != std::string::npos);  // numeric owner, no names
  const auto x = dir.path() / "x";
  std::filesystem::create_directory(x);
  REQUIRE(strata::test::shell("tar -xf '" + file.string() + "' -C '" + x.string() + "'") == 0);
  CHECK(strata::util::read_file(x / deep) == "data");
  CHECK(strata::util::read_file(x / "\xc3\xbcml\xc3\xa4ut") == "hi");
  CHECK(std::filesystem::read_symlink(x / "sym").string() == std::string(200, 'z'));
  CHECK(std::filesystem::hard_link_count(x / "zz-hard") == 2);
}
