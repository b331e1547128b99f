import type { IpfsInput } from '@haul/ipfs/input'

/** `@haul/ipfs/input`'s parser, once loaded. */
let parse: ((input: string) => IpfsInput) | undefined

/**
 * Thrown by {@link parseIpfsAddress} while the parser is not loaded; {@link withIpfsAddresses}
 * loads it and runs the parse again.
 */
class IpfsParserNeeded extends Error {}

/** Whether `err` is the request to load the parser (which must not be taken for a bad address). */
export function needsIpfsParser(err: unknown): boolean {
  return err instanceof IpfsParserNeeded
}

/**
 * Parses an IPFS address (`ipfs://CID[/path]`, `/ipfs/CID[/path]`, a bare CID), as
 * `parseIpfsInput`. The parser brings multiformats (a dozen modules, ≈ 10 ms of CPU at start-up)
 * that a command with only http(s) URLs never needs, so it is loaded only when a word that is
 * not one has to be parsed: until then this throws for {@link withIpfsAddresses} to load it.
 */
export function parseIpfsAddress(input: string): IpfsInput {
  if (parse === undefined) throw new IpfsParserNeeded('the IPFS address parser is not loaded yet')
  return parse(input)
}

/** Runs `parseWords` (synchronous, free of side effects), loading the IPFS parser and running it again if it needed one. */
export async function withIpfsAddresses<T>(parseWords: () => T): Promise<T> {
  try {
    return parseWords()
  } catch (err) {
    if (!needsIpfsParser(err)) throw err
  }
  parse = (await import('@haul/ipfs/input')).parseIpfsInput
  return parseWords()
}
