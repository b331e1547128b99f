/** `haul --help`. */
export const HELP = `haul — downloads that land whole.

Usage:
  haul get SOURCE [-o PATH] [options]
  haul status PATH [--json]
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

Exit status: 0 ok, 2 usage, 3 source failed, 4 integrity, 5 no space, 6 local I/O,
7 lock busy (--no-wait), 130 SIGINT, 143 SIGTERM. A partial download is kept and resumed.

Examples:
  haul get https://example.com/model.onnx --sha256 9f86d0…
  haul get https://example.com/big.iso -x 8 --mirror https://mirror.example.org/big.iso
  haul get ipfs://bafybeigdyrzt5…/readme.txt -o readme.txt
  haul get https://example.com/data.tar --json | jq .
  haul status model.onnx
`
