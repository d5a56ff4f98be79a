//! Savefiles: pcap (µs/ns, either byte order, the "modified" variant) and pcapng (several
//! sections and interfaces with their own link types and timestamp resolutions), read with
//! pcap-parser from a memory map, lending each packet's bytes without a copy.
//!
//! A damaged file yields every packet before the damage plus a warning; only a file that is
//! not a capture at all (or cannot be opened) is an error.

use super::{CaptureError, Packet};
use crate::wire::LinkType;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapError, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Largest captured length accepted for one record (libpcap's `MAXIMUM_SNAPLEN`). A larger
/// value is a corrupt record header, not a packet.
pub const MAX_CAPLEN: u32 = 262_144;

/// Largest pcapng block accepted (libpcap's limit for a block is 16 MiB).
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

const NS_PER_S: u64 = 1_000_000_000;

/// The mapped pages of a savefile are released behind the reader every this many bytes, so
/// resident memory stays flat however large the file is.
pub const RELEASE_EVERY: usize = 8 * 1024 * 1024;

/// How far ahead of the reader the mapping is populated.
pub const POPULATE_AHEAD: usize = 4 * 1024 * 1024;

/// How far behind the reader pages are released: packets handed to workers but not yet
/// processed stay resident (touching a released page is safe, it only costs a refault).
pub const RELEASE_LAG: usize = 16 * 1024 * 1024;

/// What kind of savefile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// An opened, memory-mapped savefile.
pub struct Savefile {
    path: PathBuf,
    map: Map,
    format: Format,
}

enum Map {
    Mapped(memmap2::Mmap),
    // Files that cannot be mapped (pipes, some special files) are read whole.
    Read(Vec<u8>),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Mapped(m) => m,
            Map::Read(v) => v,
        }
    }
}

/// What reading one file gave.
#[derive(Clone, Debug, Default)]
pub struct FileStats {
    /// Packet records read.
    pub packets: u64,
    /// Captured bytes of those packets.
    pub bytes: u64,
    /// Problems met (the census still counts everything read before them).
    pub warnings: Vec<String>,
}

fn is_pcap_magic(m: [u8; 4]) -> bool {
    matches!(
        u32::from_le_bytes(m),
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1
    )
}

const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl Savefile {
    /// Opens and maps a capture, checking that it starts like pcap or pcapng.
    pub fn open(path: &Path) -> Result<Savefile, CaptureError> {
        let err = |source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        if meta.is_dir() {
            return Err(CaptureError::NotACapture {
                path: path.to_path_buf(),
                why: "is a directory",
            });
        }
        let map = if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and lives as long as `Savefile`. If another process
            // truncates the file while it is mapped, reads past the new end fault (SIGBUS);
            // that is the documented cost of zero-copy replay (tcpdump's `-r` has the same
            // exposure through stdio buffering only), and capture files are not rewritten in
            // place by the tools that produce them.
            #[allow(unsafe_code)]
            let m = unsafe { memmap2::Mmap::map(&file) }.map_err(err)?;
            // Readahead hint only; failure changes nothing but speed.
            let _ = m.advise(memmap2::Advice::Sequential);
            Map::Mapped(m)
        } else {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut &file, &mut v).map_err(err)?;
            Map::Read(v)
        };
        let bytes = map.bytes();
        let format = match bytes.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            None => {
                return Err(CaptureError::NotACapture {
                    path: path.to_path_buf(),
                    why: if bytes.is_empty() {
                        "empty file"
                    } else {
                        "too short to be a capture"
                    },
                });
            }
            Some(m) if is_pcap_magic(m) => Format::Pcap,
            Some(PCAPNG_SHB) => Format::Pcapng,
            Some(_) => {
                return Err(CaptureError::NotACapture {
                    path: path.to_path_buf(),
                    why: "not a pcap or pcapng file (unknown magic number)",
                });
            }
        };
        Ok(Savefile {
            path: path.to_path_buf(),
            map,
            format,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.map.bytes().len()
    }

    /// Zero bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Calls `f` for every packet, in file order.
    pub fn for_each<'a>(&'a self, f: impl FnMut(Packet<'a>)) -> FileStats {
        let data = self.map.bytes();
        let mut released = 0;
        let mut populated = 0;
        let progress = |at: usize| {
            if at + POPULATE_AHEAD / 2 >= populated && populated < data.len() {
                populated = self.populate(populated, at + POPULATE_AHEAD);
            }
            if at >= released + RELEASE_EVERY + RELEASE_LAG {
                released = at - RELEASE_LAG;
                self.release_before(released);
            }
        };
        match self.format {
            Format::Pcap => read_pcap(data, f, progress),
            Format::Pcapng => read_pcapng(data, f, progress),
        }
    }

    /// Maps the file's pages in `[from, to)` into this process in one call, ahead of the
    /// reader, instead of taking a page fault every few pages (costly in virtual machines).
    /// Returns how far the file is now populated. A hint: failure only costs faults.
    fn populate(&self, from: usize, to: usize) -> usize {
        const PAGE: usize = 4096;
        let to = to.min(self.len());
        if let Map::Mapped(m) = &self.map {
            let start = from / PAGE * PAGE;
            if to > start {
                #[cfg(target_os = "linux")]
                let _ = m.advise_range(memmap2::Advice::PopulateRead, start, to - start);
            }
        }
        to
    }

    /// Drops the mapped pages before byte `end` from this process's resident memory.
    fn release_before(&self, end: usize) {
        const PAGE: usize = 4096;
        if let Map::Mapped(m) = &self.map {
            let len = end / PAGE * PAGE;
            if len > 0 {
                // SAFETY: `MADV_DONTNEED` on a read-only, shared, file-backed mapping only
                // drops page-table entries: the file's contents stay in the page cache and a
                // later access (a worker still holding a packet slice from this range) faults
                // the same bytes back in. No memory is freed or changed under a live
                // reference, which is what makes the advice unsafe for private or anonymous
                // mappings. Failure only means the pages stay resident.
                #[allow(unsafe_code)]
                let _ =
                    unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, len) };
            }
        }
    }
}

fn describe(e: &pcap_parser::nom::Err<PcapError<&[u8]>>) -> &'static str {
    match e {
        pcap_parser::nom::Err::Incomplete(_) => "truncated",
        _ => "corrupt",
    }
}

/// The warning for a parse error at `rem`, after which reading stops.
fn stopped_at(
    what: &str,
    e: &pcap_parser::nom::Err<PcapError<&[u8]>>,
    data: &[u8],
    rem: &[u8],
) -> String {
    format!(
        "{} {what} at byte {} ({} bytes left); stopped reading there",
        describe(e),
        offset(data, rem),
        rem.len()
    )
}

/// Offset of `rest` within `all`.
fn offset(all: &[u8], rest: &[u8]) -> usize {
    all.len().saturating_sub(rest.len())
}

fn read_pcap<'a>(
    data: &'a [u8],
    mut f: impl FnMut(Packet<'a>),
    mut progress: impl FnMut(usize),
) -> FileStats {
    let mut st = FileStats::default();
    let (mut rem, hdr) = match pcap_parser::parse_pcap_header(data) {
        Ok(x) => x,
        Err(e) => {
            st.warnings
                .push(format!("{} file header; nothing read", describe(&e)));
            return st;
        }
    };
    let link = LinkType::from_dlt(u32::try_from(hdr.network.0).unwrap_or(u32::MAX));
    let frac_ns: u64 = if hdr.is_nanosecond_precision() {
        1
    } else {
        1000
    };
    let be = hdr.is_bigendian();
    let modified = hdr.is_modified_format();
    while !rem.is_empty() {
        // Check the record header ourselves: a huge caplen is corruption, not a wait.
        if rem.len() >= 16 {
            let c = [rem[8], rem[9], rem[10], rem[11]];
            let caplen = if be {
                u32::from_be_bytes(c)
            } else {
                u32::from_le_bytes(c)
            };
            if caplen > MAX_CAPLEN {
                st.warnings.push(format!(
                    "corrupt record header at byte {} (captured length {caplen}); stopped reading there",
                    offset(data, rem)
                ));
                break;
            }
        }
        let r = if modified {
            parse_pcap_frame_modified(rem)
        } else if be {
            parse_pcap_frame_be(rem)
        } else {
            parse_pcap_frame(rem)
        };
        match r {
            Ok((next, b)) => {
                let ts = u64::from(b.ts_sec) * NS_PER_S + u64::from(b.ts_usec) * frac_ns;
                st.packets += 1;
                st.bytes += b.data.len() as u64;
                f(Packet {
                    ts_ns: ts,
                    link,
                    data: b.data,
                    orig_len: b.origlen,
                });
                rem = next;
                progress(offset(data, rem));
            }
            Err(e) => {
                st.warnings.push(stopped_at("record", &e, data, rem));
                break;
            }
        }
    }
    st
}

/// One pcapng interface.
#[derive(Copy, Clone)]
struct Iface {
    link: LinkType,
    units_per_s: u64,
    offset_s: u64,
}

fn read_pcapng<'a>(
    data: &'a [u8],
    mut f: impl FnMut(Packet<'a>),
    mut progress: impl FnMut(usize),
) -> FileStats {
    let mut st = FileStats::default();
    let mut rem = data;
    let mut big_endian = false;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut last_ts = 0u64;
    while !rem.is_empty() {
        if rem.len() >= 8 {
            let l = [rem[4], rem[5], rem[6], rem[7]];
            let is_shb = rem.get(..4) == Some(&PCAPNG_SHB[..]);
            // A section header's length is in the byte order its magic announces: check both.
            let len_ok = if is_shb {
                u32::from_le_bytes(l) <= MAX_BLOCK_LEN || u32::from_be_bytes(l) <= MAX_BLOCK_LEN
            } else if big_endian {
                u32::from_be_bytes(l) <= MAX_BLOCK_LEN
            } else {
                u32::from_le_bytes(l) <= MAX_BLOCK_LEN
            };
            if !len_ok {
                st.warnings.push(format!(
                    "corrupt block length at byte {}; stopped reading there",
                    offset(data, rem)
                ));
                break;
            }
        }
        let r = if rem.get(..4) == Some(&PCAPNG_SHB[..]) {
            pcap_parser::pcapng::parse_sectionheaderblock(rem)
                .map(|(r, b)| (r, Block::SectionHeader(b)))
        } else if big_endian {
            pcap_parser::pcapng::parse_block_be(rem)
        } else {
            pcap_parser::pcapng::parse_block_le(rem)
        };
        let (next, block) = match r {
            Ok(x) => x,
            Err(e) => {
                st.warnings.push(stopped_at("block", &e, data, rem));
                break;
            }
        };
        match &block {
            Block::SectionHeader(shb) => {
                big_endian = shb.big_endian();
                ifaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                let units_per_s = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                ifaces.push(Iface {
                    link: LinkType::from_dlt(idb.linktype.0.unsigned_abs()),
                    units_per_s,
                    offset_s: u64::try_from(idb.ts_offset()).unwrap_or(0),
                });
            }
            Block::EnhancedPacket(epb) => {
                match usize::try_from(epb.if_id).ok().and_then(|i| ifaces.get(i)) {
                    Some(iface) => {
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let secs = raw / iface.units_per_s + iface.offset_s;
                        let frac = raw % iface.units_per_s;
                        let ns = u64::try_from(
                            u128::from(frac) * u128::from(NS_PER_S) / u128::from(iface.units_per_s),
                        )
                        .unwrap_or(0);
                        let ts = secs.saturating_mul(NS_PER_S).saturating_add(ns);
                        last_ts = ts;
                        let pkt: &'a [u8] = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                        st.packets += 1;
                        st.bytes += pkt.len() as u64;
                        f(Packet {
                            ts_ns: ts,
                            link: iface.link,
                            data: pkt,
                            orig_len: epb.origlen,
                        });
                    }
                    None => {
                        st.warnings.push(format!(
                            "packet block at byte {} names interface {} which was not described; skipped",
                            offset(data, rem),
                            epb.if_id
                        ));
                    }
                }
            }
            Block::SimplePacket(spb) => {
                if let Some(iface) = ifaces.first() {
                    let pkt: &'a [u8] = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                    st.packets += 1;
                    st.bytes += pkt.len() as u64;
                    f(Packet {
                        ts_ns: last_ts,
                        link: iface.link,
                        data: pkt,
                        orig_len: spb.origlen,
                    });
                }
            }
            // Name resolution, interface statistics, comments, custom and unknown blocks.
            _ => {}
        }
        rem = next;
        progress(offset(data, rem));
    }
    dedup_warnings(&mut st.warnings);
    st
}

/// Keeps the first few of a repeated warning and says how many more there were.
fn dedup_warnings(w: &mut Vec<String>) {
    const KEEP: usize = 5;
    if w.len() > KEEP {
        let extra = w.len() - KEEP;
        w.truncate(KEEP);
        w.push(format!("… and {extra} more warnings like these"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_bytes(be: bool, nano: bool, linktype: u32, pkts: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut b = Vec::new();
        b.extend_from_slice(&w32(if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        b.extend_from_slice(&w16(2));
        b.extend_from_slice(&w16(4));
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&w32(65535));
        b.extend_from_slice(&w32(linktype));
        for (s, frac, d) in pkts {
            b.extend_from_slice(&w32(*s));
            b.extend_from_slice(&w32(*frac));
            b.extend_from_slice(&w32(d.len() as u32));
            b.extend_from_slice(&w32(d.len() as u32));
            b.extend_from_slice(d);
        }
        b
    }

    fn collect(data: &[u8], fmt: Format) -> (Vec<(u64, LinkType, Vec<u8>)>, FileStats) {
        let mut v = Vec::new();
        let st = match fmt {
            Format::Pcap => read_pcap(data, |p| v.push((p.ts_ns, p.link, p.data.to_vec())), |_| {}),
            Format::Pcapng => {
                read_pcapng(data, |p| v.push((p.ts_ns, p.link, p.data.to_vec())), |_| {})
            }
        };
        (v, st)
    }

    #[test]
    fn pcap_both_byte_orders_and_resolutions() {
        for be in [false, true] {
            for nano in [false, true] {
                let b = pcap_bytes(be, nano, 1, &[(10, 5, b"abc"), (11, 0, b"de")]);
                let (v, st) = collect(&b, Format::Pcap);
                assert!(st.warnings.is_empty(), "{:?}", st.warnings);
                assert_eq!(v.len(), 2);
                let frac = if nano { 5 } else { 5000 };
                assert_eq!(
                    v[0],
                    (10 * NS_PER_S + frac, LinkType::Ethernet, b"abc".to_vec())
                );
                assert_eq!(v[1].2, b"de");
            }
        }
    }

    #[test]
    fn truncated_pcap_keeps_what_was_read() {
        let b = pcap_bytes(false, false, 1, &[(1, 0, b"abcdef"), (2, 0, b"ghijkl")]);
        for cut in [b.len() - 3, b.len() - 10, b.len() - 17] {
            let (v, st) = collect(&b[..cut], Format::Pcap);
            assert_eq!(v.len(), 1, "cut {cut}");
            assert_eq!(st.warnings.len(), 1);
            assert!(st.warnings[0].contains("truncated"), "{:?}", st.warnings);
        }
        let (v, st) = collect(&b[..10], Format::Pcap);
        assert!(v.is_empty());
        assert!(st.warnings[0].contains("file header"));
    }

    #[test]
    fn huge_caplen_is_corrupt_not_a_wait() {
        let mut b = pcap_bytes(false, false, 1, &[(1, 0, b"abc"), (2, 0, b"def")]);
        let second = 24 + 16 + 3;
        b[second + 8..second + 12].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        let (v, st) = collect(&b, Format::Pcap);
        assert_eq!(v.len(), 1);
        assert!(
            st.warnings[0].contains("corrupt record header"),
            "{:?}",
            st.warnings
        );
    }

    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let len = 12 + body.len() as u32;
        let mut b = ty.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    fn shb() -> Vec<u8> {
        let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        block(0x0a0d_0d0a, &body)
    }

    fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut body = linktype.to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&65535u32.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]);
        }
        block(1, &body)
    }

    fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut body = iface.to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        block(6, &body)
    }

    #[test]
    fn pcapng_two_interfaces_with_own_link_types_and_resolutions() {
        let mut b = shb();
        b.extend(idb(1, None));
        b.extend(idb(101, Some(9)));
        b.extend(block(0x0bad_cafe, &[1, 2, 3, 4])); // unknown block: skipped
        b.extend(epb(0, 1_500_000, b"eth"));
        b.extend(epb(1, 2_000_000_123, b"raw ip"));
        b.extend(block(5, &[0; 16])); // interface statistics
        let (v, st) = collect(&b, Format::Pcapng);
        assert!(st.warnings.is_empty(), "{:?}", st.warnings);
        assert_eq!(v[0], (1_500_000_000, LinkType::Ethernet, b"eth".to_vec()));
        assert_eq!(v[1], (2_000_000_123, LinkType::Raw, b"raw ip".to_vec()));
    }

    #[test]
    fn pcapng_bad_block_length_keeps_what_was_read() {
        let mut b = shb();
        b.extend(idb(1, None));
        b.extend(epb(0, 1, b"one"));
        let mut bad = epb(0, 2, b"two");
        bad[4..8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        b.extend(bad);
        let (v, st) = collect(&b, Format::Pcapng);
        assert_eq!(v.len(), 1);
        assert_eq!(st.warnings.len(), 1);
        let (v, st) = collect(&b[..b.len() - 30], Format::Pcapng);
        assert_eq!(v.len(), 1);
        assert_eq!(st.warnings.len(), 1);
    }

    #[test]
    fn packet_for_unknown_interface_is_a_warning() {
        let mut b = shb();
        b.extend(epb(3, 1, b"x"));
        let (v, st) = collect(&b, Format::Pcapng);
        assert!(v.is_empty());
        assert_eq!(st.warnings.len(), 1);
    }
}
