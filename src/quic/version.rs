//! The QUIC versions whose Initial packets hellowatch decrypts: one table (version → name,
//! Initial salt, key labels, long-header packet-type bits).
//!
//! Salts: RFC 9001 §5.2 (v1, also drafts 33–34), RFC 9369 §3.3.1 (v2), the draft-29 salt
//! (drafts 29–32), the draft-23 salt (drafts 23–28), the draft-22 salt (draft 22 and mvfst's
//! 0xfaceb001), and Google's T050/T051 salts, as Wireshark's `packet-quic.c` lists them.
//! Wireshark reads mvfst 0xfaceb002/0xfaceb00e as draft 27 (draft-23 salt). Versions of the
//! form 0x?a?a?a?a (RFC 9000 §15, reserved to force Version Negotiation) carry no salt of their
//! own: clients protect such Initials as the version they really speak, so the v1 and draft-29
//! salts are both tried (the AEAD tag decides).

/// A long-header packet type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// Initial: carries the hellos.
    Initial,
    /// 0-RTT.
    ZeroRtt,
    /// Handshake.
    Handshake,
    /// Retry.
    Retry,
}

/// How a version protects its Initial packets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// Short name (`v1`, `v2`, `draft-29`, `mvfst-22`, `T051`, …).
    pub name: &'static str,
    /// Initial salt.
    pub salt: &'static [u8; 20],
    /// A second salt to try when the first one fails the AEAD tag (reserved versions only).
    pub alt_salt: Option<&'static [u8; 20]>,
    /// Labels for the packet protection key, IV and header protection key.
    pub labels: Labels,
    /// QUIC v2 packet-type bits (RFC 9369 §3.2) rather than v1's.
    pub v2_types: bool,
    /// Google's T050/T051: the handshake travels in frames of type 0x08 laid out like CRYPTO
    /// (offset, length, data), as Wireshark and nDPI read them.
    pub gquic_crypto: bool,
}

/// HKDF-Expand-Label labels for the key, IV and header protection key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    /// Packet protection key.
    pub key: &'static [u8],
    /// Packet protection IV.
    pub iv: &'static [u8],
    /// Header protection key.
    pub hp: &'static [u8],
}

pub(crate) const LABELS_V1: Labels = Labels {
    key: b"quic key",
    iv: b"quic iv",
    hp: b"quic hp",
};
pub(crate) const LABELS_V2: Labels = Labels {
    key: b"quicv2 key",
    iv: b"quicv2 iv",
    hp: b"quicv2 hp",
};

/// RFC 9001 §5.2.
pub const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 §3.3.1.
pub const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// draft-ietf-quic-tls-29 §5.2 (drafts 29–32).
pub const SALT_DRAFT_29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
/// draft-ietf-quic-tls-23 §5.2 (drafts 23–28).
pub const SALT_DRAFT_23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];
/// draft-ietf-quic-tls-22 §5.2.
pub const SALT_DRAFT_22: [u8; 20] = [
    0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd,
    0x7a, 0x02, 0x64, 0x4a,
];
/// Google QUIC T050 (Wireshark `hanshake_salt_draft_t50`).
pub const SALT_T050: [u8; 20] = [
    0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c,
    0x60, 0x48, 0x83, 0x10,
];
/// Google QUIC T051 (Wireshark `hanshake_salt_draft_t51`).
pub const SALT_T051: [u8; 20] = [
    0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc,
    0xda, 0x6e, 0x03, 0x3d,
];

const fn v1_like(name: &'static str, salt: &'static [u8; 20]) -> VersionInfo {
    VersionInfo {
        name,
        salt,
        alt_salt: None,
        labels: LABELS_V1,
        v2_types: false,
        gquic_crypto: false,
    }
}

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;

static INFO_V1: VersionInfo = VersionInfo {
    name: "v1",
    salt: &SALT_V1,
    alt_salt: None,
    labels: LABELS_V1,
    v2_types: false,
    gquic_crypto: false,
};
static INFO_V2: VersionInfo = VersionInfo {
    name: "v2",
    salt: &SALT_V2,
    alt_salt: None,
    labels: LABELS_V2,
    v2_types: true,
    gquic_crypto: false,
};
static INFO_RESERVED: VersionInfo = VersionInfo {
    name: "reserved",
    salt: &SALT_V1,
    alt_salt: Some(&SALT_DRAFT_29),
    labels: LABELS_V1,
    v2_types: false,
    gquic_crypto: false,
};
static INFO_MVFST_22: VersionInfo = VersionInfo {
    name: "mvfst-22",
    salt: &SALT_DRAFT_22,
    alt_salt: None,
    labels: LABELS_V1,
    v2_types: false,
    gquic_crypto: false,
};
static INFO_MVFST_27: VersionInfo = VersionInfo {
    name: "mvfst-27",
    salt: &SALT_DRAFT_23,
    alt_salt: None,
    labels: LABELS_V1,
    v2_types: false,
    gquic_crypto: false,
};
static INFO_MVFST_EXP: VersionInfo = VersionInfo {
    name: "mvfst-exp",
    salt: &SALT_DRAFT_23,
    alt_salt: None,
    labels: LABELS_V1,
    v2_types: false,
    gquic_crypto: false,
};
static INFO_T050: VersionInfo = VersionInfo {
    name: "T050",
    salt: &SALT_T050,
    alt_salt: None,
    labels: LABELS_V1,
    v2_types: false,
    gquic_crypto: true,
};
static INFO_T051: VersionInfo = VersionInfo {
    name: "T051",
    salt: &SALT_T051,
    alt_salt: None,
    labels: LABELS_V1,
    v2_types: false,
    gquic_crypto: true,
};
/// IETF drafts 22–34, indexed by draft number − 22.
static INFO_DRAFTS: [VersionInfo; 13] = [
    v1_like("draft-22", &SALT_DRAFT_22),
    v1_like("draft-23", &SALT_DRAFT_23),
    v1_like("draft-24", &SALT_DRAFT_23),
    v1_like("draft-25", &SALT_DRAFT_23),
    v1_like("draft-26", &SALT_DRAFT_23),
    v1_like("draft-27", &SALT_DRAFT_23),
    v1_like("draft-28", &SALT_DRAFT_23),
    v1_like("draft-29", &SALT_DRAFT_29),
    v1_like("draft-30", &SALT_DRAFT_29),
    v1_like("draft-31", &SALT_DRAFT_29),
    v1_like("draft-32", &SALT_DRAFT_29),
    v1_like("draft-33", &SALT_V1),
    v1_like("draft-34", &SALT_V1),
];

/// Is `v` a version reserved to force Version Negotiation (0x?a?a?a?a)?
pub fn is_reserved(v: u32) -> bool {
    v & 0x0f0f_0f0f == 0x0a0a_0a0a
}

/// The version table. `None`: a version whose Initials hellowatch cannot decrypt (unknown,
/// gQUIC with its own crypto handshake such as Q050, or a draft before 22 with another header
/// layout).
pub fn lookup(v: u32) -> Option<&'static VersionInfo> {
    Some(match v {
        V1 => &INFO_V1,
        V2 => &INFO_V2,
        0xff00_0016..=0xff00_0022 => {
            let i = usize::try_from(v & 0xff).ok()?.checked_sub(22)?;
            INFO_DRAFTS.get(i)?
        }
        0xface_b001 => &INFO_MVFST_22,
        0xface_b002 => &INFO_MVFST_27,
        0xface_b00e => &INFO_MVFST_EXP,
        0x5430_3530 => &INFO_T050,
        0x5430_3531 => &INFO_T051,
        v if is_reserved(v) => &INFO_RESERVED,
        _ => return None,
    })
}

impl VersionInfo {
    /// The packet type of a long header whose first byte is `b0`.
    pub fn packet_type(&self, b0: u8) -> PacketType {
        let bits = (b0 >> 4) & 3;
        match (self.v2_types, bits) {
            (false, 0) | (true, 1) => PacketType::Initial,
            (false, 1) | (true, 2) => PacketType::ZeroRtt,
            (false, 2) | (true, 3) => PacketType::Handshake,
            _ => PacketType::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_the_corpus_versions() {
        for (v, name) in [
            (1, "v1"),
            (0x6b3343cf, "v2"),
            (0xff000016, "draft-22"),
            (0xff000017, "draft-23"),
            (0xff00001d, "draft-29"),
            (0xff000020, "draft-32"),
            (0xff000022, "draft-34"),
            (0xfaceb001, "mvfst-22"),
            (0xfaceb002, "mvfst-27"),
            (0xfaceb00e, "mvfst-exp"),
            (0x54303531, "T051"),
            (0x0a0a0a0a, "reserved"),
            (0x1a2a3a4a, "reserved"),
        ] {
            assert_eq!(lookup(v).map(|i| i.name), Some(name), "{v:#x}");
        }
        assert_eq!(lookup(0xff000024).map(|i| i.name), None);
        assert_eq!(lookup(0xff000015).map(|i| i.name), None);
        assert_eq!(lookup(0x51303530).map(|i| i.name), None, "Q050 is not TLS");
        assert_eq!(lookup(0).map(|i| i.name), None);
        assert_eq!(lookup(0xff000017).unwrap().salt, &SALT_DRAFT_23);
        assert_eq!(lookup(0xff000021).unwrap().salt, &SALT_V1);
    }

    #[test]
    fn packet_type_bits_differ_in_v2() {
        let v1 = lookup(V1).unwrap();
        let v2 = lookup(V2).unwrap();
        assert_eq!(v1.packet_type(0xc0), PacketType::Initial);
        assert_eq!(v1.packet_type(0xf0), PacketType::Retry);
        assert_eq!(v2.packet_type(0xd0), PacketType::Initial);
        assert_eq!(v2.packet_type(0xc0), PacketType::Retry);
        assert_eq!(v2.packet_type(0xf0), PacketType::Handshake);
        assert_eq!(v1.packet_type(0xe0), PacketType::Handshake);
    }
}
