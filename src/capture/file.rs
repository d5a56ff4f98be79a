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

/// Smallest pcapng block: type, and the total length before and after the body.
pub const MIN_BLOCK_LEN: u32 = 12;

/// Interfaces described per pcapng section; more descriptions are ignored (with a warning),
/// so a file of nothing but interface blocks cannot grow memory.
pub const MAX_INTERFACES: usize = 4096;

/// Warnings kept as text per file; further ones are counted in one closing line.
pub const MAX_WARNINGS: usize = 5;

/// Bytes read from a file that cannot be memory-mapped (a pipe, a character device); the rest
/// is not read, with a warning. Regular files are mapped and have no such limit.
pub const MAX_UNMAPPED_LEN: u64 = 1024 * 1024 * 1024;

const NS_PER_S: u64 = 1_000_000_000;

/// The mapped pages of a savefile are released behind the reader every this many bytes, so
/// resident memory stays flat however large the file is.
pub const RELEASE_EVERY: usize = 2 * 1024 * 1024;

/// How far ahead of the reader the mapping is populated.
pub const POPULATE_AHEAD: usize = 4 * 1024 * 1024;

/// How far behind the reader pages are released: packets handed to workers but not yet
/// processed stay resident (touching a released page is safe, it only costs a refault). The
/// pipeline has at most `workers` × [`crate::pipeline::REPLAY_QUEUE_DEPTH`] batches of
/// [`crate::pipeline::BATCH_BYTES`] in flight: 4 MiB with two workers.
pub const RELEASE_LAG: usize = 6 * 1024 * 1024;

/// What kind of savefile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SavefileFormat {
    /// Classic pcap.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// An opened, memory-mapped savefile.
pub struct Savefile {
    path: PathBuf,
    map: Map,
    format: SavefileFormat,
}

enum Map {
    Mapped(memmap2::Mmap),
    // Files that cannot be mapped (pipes, some special files) are read, up to
    // `MAX_UNMAPPED_LEN` bytes; `true` when there was more.
    Read(Vec<u8>, bool),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Mapped(m) => m,
            Map::Read(v, _) => v,
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

/// The format of a capture starting with `bytes`, from its magic number; the error says why
/// it is not a capture.
pub fn detect(bytes: &[u8]) -> Result<SavefileFormat, &'static str> {
    match bytes.first_chunk::<4>() {
        None if bytes.is_empty() => Err("empty file"),
        None => Err("too short to be a capture"),
        Some(m) if is_pcap_magic(*m) => Ok(SavefileFormat::Pcap),
        Some(&PCAPNG_SHB) => Ok(SavefileFormat::Pcapng),
        Some(_) => Err("not a pcap or pcapng file (unknown magic number)"),
    }
}

/// Reads every packet of a pcap or pcapng capture held in memory, in file order: the savefile
/// reader without the file (pure; used by tests and the fuzz targets). A damaged capture
/// yields the packets before the damage and a warning; the error says why `bytes` is not a
/// capture at all.
pub fn for_each_packet_in<'a>(
    bytes: &'a [u8],
    f: impl FnMut(Packet<'a>),
) -> Result<FileStats, &'static str> {
    Ok(match detect(bytes)? {
        SavefileFormat::Pcap => read_pcap(bytes, f, |_| {}),
        SavefileFormat::Pcapng => read_pcapng(bytes, f, |_| {}),
    })
}

/// Warnings of one file: the first [`MAX_WARNINGS`] as text, the rest counted.
#[derive(Default)]
struct Warnings {
    list: Vec<String>,
    more: u64,
}

impl Warnings {
    /// Adds a warning; the text is only built if it is kept.
    fn push(&mut self, w: impl FnOnce() -> String) {
        if self.list.len() < MAX_WARNINGS {
            self.list.push(w());
        } else {
            self.more = self.more.saturating_add(1);
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list
                .push(format!("… and {} more warnings like these", self.more));
        }
        self.list
    }
}

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
            // Not mappable: check the magic number first (so `/dev/zero` is refused at once),
            // then read at most `MAX_UNMAPPED_LEN` bytes.
            use std::io::Read;
            let mut v = Vec::new();
            (&file).take(4).read_to_end(&mut v).map_err(err)?;
            if let Err(why) = detect(&v) {
                return Err(CaptureError::NotACapture {
                    path: path.to_path_buf(),
                    why,
                });
            }
            let mut limited = (&file).take(MAX_UNMAPPED_LEN.saturating_sub(4));
            limited.read_to_end(&mut v).map_err(err)?;
            let mut probe = [0u8; 1];
            let more = (&file).read(&mut probe).map_err(err)? > 0;
            Map::Read(v, more)
        };
        let format = detect(map.bytes()).map_err(|why| CaptureError::NotACapture {
            path: path.to_path_buf(),
            why,
        })?;
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
    pub fn format(&self) -> SavefileFormat {
        self.format
    }

    /// Calls `f` for every packet, in file order.
    pub fn for_each<'a>(&'a self, f: impl FnMut(Packet<'a>)) -> FileStats {
        let data = self.map.bytes();
        let mut released = 0usize;
        let mut populated = 0usize;
        let progress = |at: usize| {
            if at.saturating_add(POPULATE_AHEAD / 2) >= populated && populated < data.len() {
                populated = self.populate(populated, at.saturating_add(POPULATE_AHEAD));
            }
            if at >= released.saturating_add(RELEASE_EVERY + RELEASE_LAG) {
                released = at.saturating_sub(RELEASE_LAG);
                self.release_before(released);
            }
        };
        let mut st = match self.format {
            SavefileFormat::Pcap => read_pcap(data, f, progress),
            SavefileFormat::Pcapng => read_pcapng(data, f, progress),
        };
        if let Map::Read(_, true) = self.map {
            st.warnings.push(format!(
                "not a regular file: read only its first {MAX_UNMAPPED_LEN} bytes"
            ));
        }
        st
    }

    /// Maps the file's pages in `[from, to)` into this process in one call, ahead of the
    /// reader, instead of taking a page fault every few pages (costly in virtual machines).
    /// Returns how far the file is now populated. A hint: failure only costs faults.
    fn populate(&self, from: usize, to: usize) -> usize {
        const PAGE: usize = 4096;
        let to = to.min(self.len());
        if let Map::Mapped(m) = &self.map {
            let start = from.checked_div(PAGE).unwrap_or(0).saturating_mul(PAGE);
            if let Some(len) = to.checked_sub(start).filter(|l| *l > 0) {
                #[cfg(target_os = "linux")]
                let _ = m.advise_range(memmap2::Advice::PopulateRead, start, len);
            }
        }
        to
    }

    /// Drops the mapped pages before byte `end` from this process's resident memory.
    fn release_before(&self, end: usize) {
        const PAGE: usize = 4096;
        if let Map::Mapped(m) = &self.map {
            let len = end & !(PAGE - 1);
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
        if let Some(&[_, _, _, _, _, _, _, _, c0, c1, c2, c3, ..]) = rem.first_chunk::<16>() {
            let c = [c0, c1, c2, c3];
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
                let ts = u64::from(b.ts_sec)
                    .saturating_mul(NS_PER_S)
                    .saturating_add(u64::from(b.ts_usec).saturating_mul(frac_ns));
                st.packets = st.packets.saturating_add(1);
                st.bytes = st.bytes.saturating_add(b.data.len() as u64);
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
    let mut warn = Warnings::default();
    let mut rem = data;
    let mut big_endian = false;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut last_ts = 0u64;
    while !rem.is_empty() {
        if let Some(&[_, _, _, _, l0, l1, l2, l3]) = rem.first_chunk::<8>() {
            let l = [l0, l1, l2, l3];
            let is_shb = rem.get(..4) == Some(&PCAPNG_SHB[..]);
            // A block is at least 12 bytes (type, two lengths; pcap-parser 0.17 subtracts 12
            // unchecked) and at most MAX_BLOCK_LEN. A section header's length is in the byte
            // order its magic announces: accept either.
            let sane = |n: u32| (MIN_BLOCK_LEN..=MAX_BLOCK_LEN).contains(&n);
            let len_ok = if is_shb {
                sane(u32::from_le_bytes(l)) || sane(u32::from_be_bytes(l))
            } else if big_endian {
                sane(u32::from_be_bytes(l))
            } else {
                sane(u32::from_le_bytes(l))
            };
            if !len_ok {
                warn.push(|| {
                    format!(
                        "corrupt block length at byte {}; stopped reading there",
                        offset(data, rem)
                    )
                });
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
                warn.push(|| stopped_at("block", &e, data, rem));
                break;
            }
        };
        match &block {
            Block::SectionHeader(shb) => {
                big_endian = shb.big_endian();
                ifaces.clear();
            }
            Block::InterfaceDescription(idb) if ifaces.len() < MAX_INTERFACES => {
                ifaces.push(Iface {
                    link: LinkType::from_dlt(idb.linktype.0.unsigned_abs()),
                    units_per_s: units_per_s(idb.if_tsresol),
                    offset_s: u64::try_from(idb.ts_offset()).unwrap_or(0),
                });
            }
            Block::InterfaceDescription(_) => warn.push(|| {
                format!(
                    "interface block at byte {} beyond {MAX_INTERFACES} interfaces; ignored",
                    offset(data, rem)
                )
            }),
            Block::EnhancedPacket(epb) => {
                match usize::try_from(epb.if_id).ok().and_then(|i| ifaces.get(i)) {
                    Some(iface) => {
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ts = ts_ns(raw, iface);
                        last_ts = ts;
                        let pkt: &'a [u8] = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                        st.packets = st.packets.saturating_add(1);
                        st.bytes = st.bytes.saturating_add(pkt.len() as u64);
                        f(Packet {
                            ts_ns: ts,
                            link: iface.link,
                            data: pkt,
                            orig_len: epb.origlen,
                        });
                    }
                    None => warn.push(|| {
                        format!(
                            "packet block at byte {} names interface {} which was not described; skipped",
                            offset(data, rem),
                            epb.if_id
                        )
                    }),
                }
            }
            Block::SimplePacket(spb) => match ifaces.first() {
                Some(iface) => {
                    let pkt: &'a [u8] = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                    st.packets = st.packets.saturating_add(1);
                    st.bytes = st.bytes.saturating_add(pkt.len() as u64);
                    f(Packet {
                        ts_ns: last_ts,
                        link: iface.link,
                        data: pkt,
                        orig_len: spb.origlen,
                    });
                }
                None => warn.push(|| {
                    format!(
                        "simple packet block at byte {} before any interface block; skipped",
                        offset(data, rem)
                    )
                }),
            },
            // Name resolution, interface statistics, comments, custom and unknown blocks.
            _ => {}
        }
        rem = next;
        progress(offset(data, rem));
    }
    st.warnings = warn.finish();
    st
}

/// Timestamp units per second of a pcapng `if_tsresol` option: 10^n, or 2^n with the high bit
/// set (pcap-parser 0.17 rejects every 2^n value); microseconds when absent or out of range.
fn units_per_s(tsresol: u8) -> u64 {
    let n = u32::from(tsresol & 0x7f);
    let units = if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n)
    };
    units.unwrap_or(1_000_000).max(1)
}

/// A pcapng timestamp in nanoseconds since the epoch (saturating, never panicking).
fn ts_ns(raw: u64, iface: &Iface) -> u64 {
    let units = iface.units_per_s.max(1);
    let secs = raw
        .checked_div(units)
        .unwrap_or(0)
        .saturating_add(iface.offset_s);
    let frac = raw.checked_rem(units).unwrap_or(0);
    let ns = u128::from(frac)
        .saturating_mul(u128::from(NS_PER_S))
        .checked_div(u128::from(units))
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    secs.saturating_mul(NS_PER_S).saturating_add(ns)
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

    fn collect(data: &[u8], fmt: SavefileFormat) -> (Vec<(u64, LinkType, Vec<u8>)>, FileStats) {
        let mut v = Vec::new();
        let st = match fmt {
            SavefileFormat::Pcap => {
                read_pcap(data, |p| v.push((p.ts_ns, p.link, p.data.to_vec())), |_| {})
            }
            SavefileFormat::Pcapng => {
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
                let (v, st) = collect(&b, SavefileFormat::Pcap);
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
            let (v, st) = collect(&b[..cut], SavefileFormat::Pcap);
            assert_eq!(v.len(), 1, "cut {cut}");
            assert_eq!(st.warnings.len(), 1);
            assert!(st.warnings[0].contains("truncated"), "{:?}", st.warnings);
        }
        let (v, st) = collect(&b[..10], SavefileFormat::Pcap);
        assert!(v.is_empty());
        assert!(st.warnings[0].contains("file header"));
    }

    #[test]
    fn huge_caplen_is_corrupt_not_a_wait() {
        let mut b = pcap_bytes(false, false, 1, &[(1, 0, b"abc"), (2, 0, b"def")]);
        let second = 24 + 16 + 3;
        b[second + 8..second + 12].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        let (v, st) = collect(&b, SavefileFormat::Pcap);
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
        while !body.len().is_multiple_of(4) {
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
        let (v, st) = collect(&b, SavefileFormat::Pcapng);
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
        let (v, st) = collect(&b, SavefileFormat::Pcapng);
        assert_eq!(v.len(), 1);
        assert_eq!(st.warnings.len(), 1);
        let (v, st) = collect(&b[..b.len() - 30], SavefileFormat::Pcapng);
        assert_eq!(v.len(), 1);
        assert_eq!(st.warnings.len(), 1);
    }

    /// Fuzzing regression (savefile): a block whose total length is below 12 made
    /// pcap-parser 0.17 subtract with overflow (a panic with overflow checks, a wrapped length
    /// without). It is a corrupt block length: the packets before it count.
    #[test]
    fn pcapng_block_shorter_than_its_header_is_corrupt_not_an_overflow() {
        for ty in [0x8000_0001u32, 6, 1, 3, 5, 0x0bad_cafe] {
            for len in [0u32, 4, 8, 11] {
                let mut b = shb();
                b.extend(idb(1, None));
                b.extend(epb(0, 1, b"one"));
                b.extend_from_slice(&ty.to_le_bytes());
                b.extend_from_slice(&len.to_le_bytes());
                b.extend_from_slice(&[0; 16]);
                let (v, st) = collect(&b, SavefileFormat::Pcapng);
                assert_eq!(v.len(), 1, "type {ty:#x} length {len}");
                assert_eq!(st.warnings.len(), 1);
                assert!(
                    st.warnings[0].contains("corrupt block length"),
                    "{:?}",
                    st.warnings
                );
            }
        }
    }

    #[test]
    fn packet_for_unknown_interface_is_a_warning() {
        let mut b = shb();
        b.extend(epb(3, 1, b"x"));
        let (v, st) = collect(&b, SavefileFormat::Pcapng);
        assert!(v.is_empty());
        assert_eq!(st.warnings.len(), 1);
    }
}
