//! Initial packet protection (RFC 9001 §5): key derivation from the client's Destination
//! Connection ID, header protection removal (AES-128-ECB on a 16-byte sample) and
//! AEAD_AES_128_GCM tag verification. RustCrypto `hkdf`/`sha2`/`aes`/`aes-gcm`; pure.

use super::version::Labels;
use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

/// AEAD tag length (AES-128-GCM).
pub const TAG_LEN: usize = 16;
/// Header protection sample length.
pub const SAMPLE_LEN: usize = 16;

/// Keys protecting one direction's Initial packets.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DirKeys {
    /// AEAD key.
    pub key: [u8; 16],
    /// AEAD IV.
    pub iv: [u8; 12],
    /// Header protection key.
    pub hp: [u8; 16],
}

/// Both directions' Initial keys.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    /// The client's ("client in").
    pub client: DirKeys,
    /// The server's ("server in").
    pub server: DirKeys,
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context; `None` if `out` or `label` is
/// too long (never for the fixed labels used here).
fn expand_label(prk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    const PREFIX: &[u8] = b"tls13 ";
    let mut info = [0u8; 64];
    let full = PREFIX.len().checked_add(label.len())?;
    let out_len = u16::try_from(out.len()).ok()?;
    let n = full.checked_add(4)?;
    let dst = info.get_mut(..n)?;
    let (len, rest) = dst.split_at_mut(2);
    len.copy_from_slice(&out_len.to_be_bytes());
    let (lab_len, rest) = rest.split_at_mut(1);
    *lab_len.first_mut()? = u8::try_from(full).ok()?;
    let (p, rest) = rest.split_at_mut(PREFIX.len());
    p.copy_from_slice(PREFIX);
    let (l, ctx) = rest.split_at_mut(label.len());
    l.copy_from_slice(label);
    *ctx.first_mut()? = 0;
    prk.expand(info.get(..n)?, out).ok()
}

/// The client's or server's Initial secret (32 bytes) for `dcid`.
pub fn initial_secret(salt: &[u8; 20], dcid: &[u8], client: bool) -> Option<[u8; 32]> {
    let initial = Hkdf::<Sha256>::new(Some(salt), dcid);
    let mut secret = [0u8; 32];
    let label: &[u8] = if client { b"client in" } else { b"server in" };
    expand_label(&initial, label, &mut secret)?;
    Some(secret)
}

/// Key, IV and header protection key from a direction's Initial secret.
pub fn dir_keys(secret: &[u8; 32], labels: &Labels) -> Option<DirKeys> {
    let prk = Hkdf::<Sha256>::from_prk(secret).ok()?;
    let mut k = DirKeys::default();
    expand_label(&prk, labels.key, &mut k.key)?;
    expand_label(&prk, labels.iv, &mut k.iv)?;
    expand_label(&prk, labels.hp, &mut k.hp)?;
    Some(k)
}

/// Both directions' Initial keys for the client's Destination Connection ID `dcid`.
pub fn derive(salt: &[u8; 20], labels: &Labels, dcid: &[u8]) -> Option<Keys> {
    Some(Keys {
        client: dir_keys(&initial_secret(salt, dcid, true)?, labels)?,
        server: dir_keys(&initial_secret(salt, dcid, false)?, labels)?,
    })
}

/// Why a packet did not open.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Too short for the header protection sample or the tag.
    Short,
    /// The AEAD tag does not verify: wrong keys, or not a packet of this connection.
    Auth,
}

/// Removes header and packet protection from one long-header packet, in place. `pkt` is the
/// whole packet (first byte through tag); `pn_offset` is where the packet number starts.
/// On success returns where the plaintext payload starts (it ends `TAG_LEN` before the end)
/// and the packet number.
pub fn open(k: &DirKeys, pkt: &mut [u8], pn_offset: usize) -> Result<(usize, u32), OpenError> {
    let sample_at = pn_offset.checked_add(4).ok_or(OpenError::Short)?;
    let sample_end = sample_at.checked_add(SAMPLE_LEN).ok_or(OpenError::Short)?;
    let sample = pkt.get(sample_at..sample_end).ok_or(OpenError::Short)?;
    let hp = Aes128::new(GenericArray::from_slice(&k.hp));
    let mut mask = GenericArray::clone_from_slice(sample);
    hp.encrypt_block(&mut mask);
    let b0 = pkt.first_mut().ok_or(OpenError::Short)?;
    *b0 ^= mask.first().copied().unwrap_or(0) & 0x0f;
    let pn_len = usize::from(*b0 & 3).saturating_add(1);
    let hdr_end = pn_offset.saturating_add(pn_len);
    let pn_bytes = pkt.get_mut(pn_offset..hdr_end).ok_or(OpenError::Short)?;
    let mut pn: u32 = 0;
    for (b, m) in pn_bytes.iter_mut().zip(mask.iter().skip(1)) {
        *b ^= m;
        pn = pn << 8 | u32::from(*b);
    }
    let mut nonce = k.iv;
    for (n, p) in nonce.iter_mut().skip(8).zip(pn.to_be_bytes()) {
        *n ^= p;
    }
    if pkt.len() < hdr_end.saturating_add(TAG_LEN) {
        return Err(OpenError::Short);
    }
    let (ad, rest) = pkt.split_at_mut(hdr_end);
    let (ct, tag) = rest.split_at_mut(rest.len().saturating_sub(TAG_LEN));
    let aead = Aes128Gcm::new(GenericArray::from_slice(&k.key));
    aead.decrypt_in_place_detached(Nonce::from_slice(&nonce), ad, ct, Tag::from_slice(tag))
        .map_err(|_| OpenError::Auth)?;
    Ok((hdr_end, pn))
}

/// Protects one long-header packet the way a sender does (the inverse of [`open`]; for tests
/// and fuzzing): `pkt` holds the plaintext header, its packet number (length from the low two
/// bits of the first byte) at `pn_offset`, then the payload; the Length field must already
/// count the tag. Appends the tag and applies header protection. `None` if the packet is too
/// short to sample.
pub fn seal(k: &DirKeys, pkt: &mut Vec<u8>, pn_offset: usize) -> Option<()> {
    let pn_len = usize::from(*pkt.first()? & 3).checked_add(1)?;
    let hdr_end = pn_offset.checked_add(pn_len)?;
    let mut pn: u32 = 0;
    for b in pkt.get(pn_offset..hdr_end)? {
        pn = pn << 8 | u32::from(*b);
    }
    let mut nonce = k.iv;
    for (n, p) in nonce.iter_mut().skip(8).zip(pn.to_be_bytes()) {
        *n ^= p;
    }
    let aead = Aes128Gcm::new(GenericArray::from_slice(&k.key));
    let (ad, body) = pkt.split_at_mut(hdr_end);
    let tag = aead
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), ad, body)
        .ok()?;
    pkt.extend_from_slice(&tag);
    let at = pn_offset.checked_add(4)?;
    let sample = pkt.get(at..at.checked_add(SAMPLE_LEN)?)?;
    let mut mask = GenericArray::clone_from_slice(sample);
    Aes128::new(GenericArray::from_slice(&k.hp)).encrypt_block(&mut mask);
    let b0 = pkt.first_mut()?;
    *b0 ^= mask.first().copied().unwrap_or(0) & 0x0f;
    for (b, m) in pkt
        .get_mut(pn_offset..hdr_end)?
        .iter_mut()
        .zip(mask.iter().skip(1))
    {
        *b ^= m;
    }
    Some(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::quic::version::{LABELS_V1, LABELS_V2, SALT_V1, SALT_V2};

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn rfc9001_a1_keys() {
        let dcid = hex(DCID);
        let cs = initial_secret(&SALT_V1, &dcid, true).unwrap();
        assert_eq!(
            cs.to_vec(),
            hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
        );
        let ss = initial_secret(&SALT_V1, &dcid, false).unwrap();
        assert_eq!(
            ss.to_vec(),
            hex("3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b")
        );
        let k = derive(&SALT_V1, &LABELS_V1, &dcid).unwrap();
        assert_eq!(
            k.client.key.to_vec(),
            hex("1f369613dd76d5467730efcbe3b1a22d")
        );
        assert_eq!(k.client.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(
            k.client.hp.to_vec(),
            hex("9f50449e04a0e810283a1e9933adedd2")
        );
        assert_eq!(
            k.server.key.to_vec(),
            hex("cf3a5331653c364c88f0f379b6067e37")
        );
        assert_eq!(k.server.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
        assert_eq!(
            k.server.hp.to_vec(),
            hex("c206b8d9b9f0f37644430b490eeaa314")
        );
    }

    #[test]
    fn rfc9369_a1_keys() {
        let dcid = hex(DCID);
        let cs = initial_secret(&SALT_V2, &dcid, true).unwrap();
        assert_eq!(
            cs.to_vec(),
            hex("14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b")
        );
        let ss = initial_secret(&SALT_V2, &dcid, false).unwrap();
        assert_eq!(
            ss.to_vec(),
            hex("0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1")
        );
        let k = derive(&SALT_V2, &LABELS_V2, &dcid).unwrap();
        assert_eq!(
            k.client.key.to_vec(),
            hex("8b1a0bc121284290a29e0971b5cd045d")
        );
        assert_eq!(k.client.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(
            k.client.hp.to_vec(),
            hex("45b95e15235d6f45a6b19cbcb0294ba9")
        );
        assert_eq!(
            k.server.key.to_vec(),
            hex("82db637861d55e1d011f19ea71d5d2a7")
        );
        assert_eq!(k.server.iv.to_vec(), hex("dd13c276499c0249d3310652"));
        assert_eq!(
            k.server.hp.to_vec(),
            hex("edf6d05c83121201b436e16877593c3a")
        );
    }
}
