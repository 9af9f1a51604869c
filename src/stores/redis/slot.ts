// The Redis Cluster hash slot of a key (CRC16-XMODEM of its hash tag, mod 16384),
// computed here so that latchkey needs neither library's copy of cluster-key-slot.

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/**
 * The slot Redis Cluster assigns to `key`: only the part between the first "{"
 * and the next "}" counts when it is not empty (the hash tag), as in CLUSTER KEYSLOT.
 * @example
 * keySlot("latchkey:{ab12}:s:…") === keySlot("latchkey:{ab12}:u:alice") // same hash tag, same slot
 */
export function keySlot(key: string): number {
  let bytes = Buffer.from(key, "utf8");
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc % 16384;
}
