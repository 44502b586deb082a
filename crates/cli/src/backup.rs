//! The paper backup (DESIGN.md §7 "cold backup"): a key holder's phrase and
//! the signer's `d` as QR codes, in PNG and SVG files and on the terminal,
//! to print and keep in two bank safes. With every holder's phrase and `d`,
//! a signer restored on a new machine yields the same wallet.
//!
//! The files are as sensitive as the phrase itself: they are created with
//! mode 0600 in a directory of mode 0700, never overwritten, and should be
//! deleted once printed.

use crate::error::{CliError, CliResult};
use crate::files::{private_dir, write_private};
use box_core::keys::Phrase;
use qrcode::{Color, EcLevel, QrCode};
use serde::Serialize;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Pixels per QR module in the PNG files.
const PNG_SCALE: usize = 8;
/// Quiet zone around the code, in modules (the QR standard's 4).
const QUIET: usize = 4;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupFiles {
    /// The directory.
    pub dir: PathBuf,
    /// The files, phrase first.
    pub files: Vec<PathBuf>,
}

/// Parses `d` as `box-signer show-backup` prints it: `0x` and 64 hex digits.
pub fn parse_d(s: &str) -> CliResult<[u8; 32]> {
    let h = s.trim().strip_prefix("0x").unwrap_or(s.trim());
    let bytes = hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.ok_or_else(|| {
        CliError::usage("--d must be 0x followed by 64 hex digits, as `box-signer show-backup` prints it")
    })
}

fn code(data: &[u8]) -> CliResult<QrCode> {
    // Level M: survives some wear of the paper; a phrase fits easily.
    QrCode::with_error_correction_level(data, EcLevel::M)
        .map_err(|e| CliError::usage(format!("cannot make a QR code of this data: {e}")))
}

/// The QR code of `data` as a grayscale PNG.
pub fn png(data: &[u8]) -> CliResult<Zeroizing<Vec<u8>>> {
    let qr = code(data)?;
    let width = qr.width();
    let colors = qr.to_colors();
    let side = (width + 2 * QUIET) * PNG_SCALE;
    let mut pixels = Zeroizing::new(vec![255u8; side * side]);
    for (i, c) in colors.iter().enumerate() {
        if *c != Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for y in my * PNG_SCALE..(my + 1) * PNG_SCALE {
            pixels[y * side + mx * PNG_SCALE..y * side + (mx + 1) * PNG_SCALE].fill(0);
        }
    }
    let mut out = Zeroizing::new(Vec::new());
    let side32 = u32::try_from(side).map_err(|_| CliError::failed("QR image too large"))?;
    let mut enc = png::Encoder::new(&mut *out, side32, side32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| CliError::failed(format!("PNG: {e}")))?;
    w.write_image_data(&pixels).map_err(|e| CliError::failed(format!("PNG: {e}")))?;
    w.finish().map_err(|e| CliError::failed(format!("PNG: {e}")))?;
    Ok(out)
}

/// The QR code of `data` as an SVG document.
pub fn svg(data: &[u8]) -> CliResult<Zeroizing<String>> {
    let qr = code(data)?;
    Ok(Zeroizing::new(qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(320, 320).quiet_zone(true).build()))
}

/// The QR code of `data` in Unicode half blocks, for the terminal.
pub fn terminal(data: &[u8]) -> CliResult<Zeroizing<String>> {
    let qr = code(data)?;
    Ok(Zeroizing::new(qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build()))
}

/// Writes `phrase.png`, `phrase.svg`, `d.png` and `d.svg` into `dir`.
pub fn write(dir: &Path, phrase: &Phrase, d: &[u8; 32]) -> CliResult<BackupFiles> {
    if phrase.expose().is_empty() {
        return Err(CliError::usage("the phrase is empty"));
    }
    private_dir(dir)?;
    let d_text = format!("0x{}", hex::encode(d));
    let mut files = Vec::new();
    for (name, data) in [("phrase", phrase.expose().as_bytes()), ("d", d_text.as_bytes())] {
        let p = dir.join(format!("{name}.png"));
        write_private(&p, &png(data)?)?;
        files.push(p);
        let p = dir.join(format!("{name}.svg"));
        write_private(&p, svg(data)?.as_bytes())?;
        files.push(p);
    }
    Ok(BackupFiles { dir: dir.to_owned(), files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Decodes a PNG written by [`png`] with an independent QR reader.
    pub(crate) fn read_png(bytes: &[u8]) -> String {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn files_decode_to_the_phrase_and_d_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("backup");
        let phrase = Phrase::new("copper lantern orbits quietly ünïcode");
        let d = [0xAB; 32];
        let w = write(&out, &phrase, &d).unwrap();
        assert_eq!(w.files.len(), 4);
        assert_eq!(read_png(&std::fs::read(out.join("phrase.png")).unwrap()), phrase.expose());
        assert_eq!(read_png(&std::fs::read(out.join("d.png")).unwrap()), format!("0x{}", "ab".repeat(32)));
        for f in &w.files {
            assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
        }
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o700);
        let svg = std::fs::read_to_string(out.join("d.svg")).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
        // Never overwritten.
        let again = write(&out, &phrase, &d).unwrap_err();
        assert!(again.to_string().contains("refusing to overwrite"), "{again}");
    }

    #[test]
    fn terminal_rendering_and_d_parsing() {
        let t = terminal(b"0xabc").unwrap();
        assert!(t.lines().count() > 10 && t.contains('█'));
        assert_eq!(parse_d(&format!("0x{}", "01".repeat(32))).unwrap(), [1u8; 32]);
        assert!(parse_d("0x1234").is_err());
        assert!(parse_d("zz").is_err());
    }
}
