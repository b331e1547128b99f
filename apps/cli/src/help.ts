/** `haul --help`. */
export const HELP = `haul — downloads that land whole.

Usage:
  haul get SOURCE [-o PATH] [options]
  haul get SOURCE… | -i FILE [-d DIR] [-j N] [--max-connections N] [options]
  haul status PATH [--json]
  haul cache ls | verify | gc --max-size SIZE  [--cache DIR] [--json]
  haul --help | --version

SOURCE:  http(s)://…  |  ipfs://CID[/path]  |  /ipfs/CID[/path]  |  CID

Options for get:
  -o, --output PATH        file to write (default: a safe name from the server or the URL/CID,
                           in the working folder)
  --sha256 HEX  --sha512 HEX  --integrity SRI  --checksum ALGO:HEX
                           expected digest; the file is committed only if it matches
  --mirror URL             another URL for the same bytes (repeatable)
  --gateway URL            IPFS gateway (repeatable; replaces the defaults and HAUL_GATEWAYS)
  -x, --connections N      parallel connections for one file (default 1)
  --retries N              retries after failures without progress (default 5)
  --stall-timeout SECONDS  no data for this long counts as a stall (default 30)
  -H, --header 'K: V'      extra request header (repeatable; credentials stay on the same origin)
  --no-wait                fail (exit 7) instead of waiting when another process holds the file
  --json                   one JSON event a line on stdout
  -q, --quiet              no progress
  --cache[=DIR]            use the shared cache (default DIR: $HAUL_CACHE, else
                           $XDG_CACHE_HOME/haul, else ~/.cache/haul; HAUL_CACHE alone turns it
                           on, --no-cache off). A file with a sha256 already cached is linked
                           to its output with no request; a URL without one is always fetched

Batch (several SOURCEs, or -i):
  -i, --input FILE         SOURCEs one a line ("-" for stdin); indented lines below one set its
                           own out=, sha256=, sha512=, integrity=, checksum=, mirror=, gateway=
                           (the last two repeatable); blank lines and # comments are ignored
  -d, --dir DIR            folder for the outputs (default: the working folder)
  -j, --jobs N             files at once (default 4)
  --max-connections N      connections at once across all files; -x is per file (default 16)
  A bad line fails alone; the summary names each failure by source and output, and the exit
  status is the most serious one: 1 > 4 > 6 > 5 > 3 > 7 > 2 (130/143 on SIGINT/SIGTERM).
  --json events carry "file" (the output path) and "source"; the last line is "summary".

Cache commands:
  ls                       blobs, sizes, last use (least recently used first)
  verify                   re-hash every blob, remove corrupt ones (exit 4 if any was corrupt)
  gc --max-size SIZE       remove least recently used blobs down to SIZE (e.g. 10G); blobs in
                           use by a running download are kept

Exit status: 0 ok, 2 usage, 3 source failed, 4 integrity, 5 no space, 6 local I/O,
7 lock busy (--no-wait), 130 SIGINT, 143 SIGTERM. A partial download is kept and resumed.

Examples:
  haul get https://example.com/model.onnx --sha256 9f86d0…
  haul get https://example.com/big.iso -x 8 --mirror https://mirror.example.org/big.iso
  haul get ipfs://bafybeigdyrzt5…/readme.txt -o readme.txt
  haul get https://example.com/data.tar --json | jq .
  haul status model.onnx
  haul get -i list.txt -d downloads -j 8 --cache
  haul cache gc --max-size 20G
`
