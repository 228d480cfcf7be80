"""Writes tests/data/bad/: small malformed files, each cut from a good sample
file and broken in one way, and MANIFEST.tsv (file, loader kind, the message
the loader must give). `python tests/data/make_bad_corpus.py` regenerates it;
tests/test_bad_corpus.py loads each and checks the message and that nothing
was written."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
OUT = Path(__file__).resolve().parent / "bad"
CASES: list[tuple[str, str, str]] = []  # (file, kind, expected message regex)


def case(name: str, kind: str, expected: str):
    CASES.append((name, kind, expected))
    return OUT / name


# --- catalogue ---------------------------------------------------------------

def small_catalogue(n=3) -> Table:
    cat = Table.read(SAMPLE / "catalogue" / "xmmdb_sample_cat.fits")[:n]
    cat["DETID"] = np.arange(9 * 10**9, 9 * 10**9 + n)
    cat["SRCID"] = np.arange(9 * 10**9, 9 * 10**9 + n)
    cat["OBS_ID"] = "0999999999"
    cat["SRC_NUM"] = np.arange(1, n + 1)
    cat["IAUNAME"] = [f"4XMM J999999.{i}+999999" for i in range(n)]
    return cat


def catalogue_cases():
    def broken(name, expected, change, fmt=None):
        cat = small_catalogue()
        changed = change(cat)
        cat = cat if changed is None else changed
        cat.write(case(name, "catalogue", expected), format=fmt, overwrite=True)

    broken("cat_missing_sc_dec.fits", r"required column SC_DEC is missing", lambda c: c.remove_column("SC_DEC"))
    broken("cat_missing_detid_and_srcid.fits", r"not a 4XMM catalogue",
           lambda c: c.remove_columns(["DETID", "SRCID"]))
    broken("cat_nan_ra.fits", r"column RA: no value \(empty or NaN\) in row 2", lambda c: c["RA"].__setitem__(1, np.nan))
    broken("cat_inf_dec.fits", r"column DEC: position is not a finite sky coordinate in row 1",
           lambda c: c["DEC"].__setitem__(0, np.inf))
    broken("cat_dec_out_of_range.fits", r"column DEC: position is not a finite sky coordinate in row 3",
           lambda c: c["DEC"].__setitem__(2, 95.0))
    broken("cat_ra_negative.fits", r"column SC_RA: position is not a finite sky coordinate in row 1",
           lambda c: c["SC_RA"].__setitem__(0, -3.0))
    broken("cat_duplicate_detid.fits", r"duplicate key \(DETID\) in rows 1 and 3",
           lambda c: c["DETID"].__setitem__(2, c["DETID"][0]))
    broken("cat_duplicate_src_num.fits", r"duplicate key \(OBS_ID, SRC_NUM\) in rows 1 and 2",
           lambda c: c["SRC_NUM"].__setitem__(1, c["SRC_NUM"][0]))
    broken("cat_iauname_two_srcids.fits", r"IAU name .* is given to more than one SRCID",
           lambda c: c["IAUNAME"].__setitem__(1, c["IAUNAME"][0]))
    broken("cat_ra_in_radians.fits", r"column RA: unit is 'rad', expected 'deg'",
           lambda c: setattr(c["RA"], "unit", "rad"))
    broken("cat_poserr_in_degrees.fits", r"column POSERR: unit is 'deg', expected 'arcsec'",
           lambda c: setattr(c["POSERR"], "unit", "deg"))
    broken("cat_src_num_overflow.fits", r"column SRC_NUM: 1099511627776 is out of range for integer in row 1",
           lambda c: c.replace_column("SRC_NUM", np.array([2**40, 2, 3], dtype=np.int64)))
    broken("cat_fractional_detid.fits", r"column DETID: 1\.5 is not an integer in row 1",
           lambda c: c.replace_column("DETID", np.array([1.5, 2.0, 3.0])))
    broken("cat_empty_ep_8_det_ml.fits", r"column EP_8_DET_ML: no value \(empty or NaN\) in row 1",
           lambda c: c["EP_8_DET_ML"].__setitem__(0, np.nan))

    def text_in_number(c):
        c.replace_column("EP_8_DET_ML", np.array(["12.5", "many", "7"]))
    broken("cat_text_in_number.csv", r"column EP_8_DET_ML: 'many' is not a number in row 2", text_in_number, "ascii.csv")

    def bad_boolean(c):
        c.replace_column("IS_ULX", np.array(["yes", "perhaps", "no"]))
    broken("cat_bad_boolean.csv", r"column IS_ULX: 'perhaps' is not a boolean in row 2", bad_boolean, "ascii.csv")

    def bad_obs_id(c):
        c["OBS_ID"] = "12345"
    broken("cat_short_obs_id.fits", r"column OBS_ID: '12345' is not a 10-digit observation id in row 1", bad_obs_id)

    broken("cat_no_rows.fits", r"cat_no_rows.fits: the table has no rows", lambda c: c[:0])

    good = OUT / "_good_catalogue.fits"
    small_catalogue().write(good, overwrite=True)
    data = good.read_bytes()
    case("cat_truncated.fits", "catalogue", r"cannot read the file").write_bytes(data[: len(data) // 2 + 100])
    case("cat_not_fits.fits", "catalogue", r"cannot read the file").write_text("SIMPLE = this is not FITS\n")
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4), np.float32))]).writeto(
        case("cat_image_only.fits", "catalogue", r"no binary table extension"), overwrite=True)
    case("cat_unknown_type.txt", "catalogue", r"unknown file type").write_text("DETID,SRCID\n1,2\n")
    good.unlink()


# --- spectra -----------------------------------------------------------------

def gz_write(hdul: fits.HDUList, path: Path, edit_header=None):
    """Writes gzipped FITS; `edit_header(hdul)` runs on the written file, because
    astropy rebuilds column keywords (TCRVLn, ...) from the columns on write."""
    tmp = path.with_suffix(".tmp")
    hdul.writeto(tmp, overwrite=True)
    if edit_header:
        with fits.open(tmp, mode="update") as written:
            edit_header(written)
    with open(tmp, "rb") as f, gzip.open(path, "wb") as g:
        shutil.copyfileobj(f, g)
    tmp.unlink()


def sample_spectrum() -> Path:
    return sorted((SAMPLE / "products").glob("*PNS*SRSPEC*.FTZ"))[0]


def spectrum_cases():
    src = sample_spectrum()

    def broken(name, expected, change):
        with fits.open(src) as hdul:
            hdul = fits.HDUList([h.copy() for h in hdul])
        for key in ("BACKFILE", "ANCRFILE"):  # no companions: each case meets its own fault first
            hdul["SPECTRUM"].header[key] = "NONE"
        change(hdul)
        gz_write(hdul, case(name, "products", expected))

    stem = src.name  # keep pipeline naming where the loader parses it
    obsid = stem[1:11]
    broken(f"P{obsid}PNS099SRSPEC9001.FTZ", r"EXPOSURE", lambda h: h["SPECTRUM"].header.__setitem__("EXPOSURE", -5.0))
    broken(f"P{obsid}PNS099SRSPEC9002.FTZ", r"BACKSCAL", lambda h: h["SPECTRUM"].header.__setitem__("BACKSCAL", 0.0))
    broken(f"P{obsid}PNS099SRSPEC9003.FTZ", r"COUNTS",
           lambda h: h.__setitem__("SPECTRUM", fits.BinTableHDU.from_columns(
               [h["SPECTRUM"].columns["CHANNEL"]], header=h["SPECTRUM"].header)))
    broken(f"P{obsid}PNS099SRSPEC9004.FTZ", r"SPECTRUM", lambda h: h.pop(1))
    broken(f"P{obsid}PNS099SRSPEC9005.FTZ", r"RMF|RESPFILE|response",
           lambda h: h["SPECTRUM"].header.__setitem__("RESPFILE", "epn_no_such_canned_response.rmf"))
    broken(f"P{obsid}PNS099SRSPEC9006.FTZ", r"COUNTS|negative",
           lambda h: h["SPECTRUM"].data["COUNTS"].__setitem__(3, -7))
    broken(f"P{obsid}PNS099SRSPEC9007.FTZ", r"INSTRUME|instrument",
           lambda h: h["SPECTRUM"].header.__setitem__("INSTRUME", "ACIS-S"))
    data = gzip.decompress(src.read_bytes())
    with gzip.open(case(f"P{obsid}PNS099SRSPEC9008.FTZ", "products", r"cannot read|truncated"), "wb") as g:
        g.write(data[: len(data) // 2])
    case(f"P{obsid}PNS099SRSPEC9009.FTZ", "products", r"cannot read|not a|gzip").write_bytes(data[:10] + b"garbage")


# --- events ------------------------------------------------------------------

def sample_events() -> Path:
    return sorted((SAMPLE / "events").glob("*PIEVLI*.FTZ"))[0]


def event_cases():
    src = sample_events()
    obsid = src.name[1:11]

    def broken(name, expected, change, n=300, edit_header=None):
        with fits.open(src) as hdul:
            hdus = []
            for h in hdul:
                h = h.copy()
                if h.name == "EVENTS":
                    h = fits.BinTableHDU(h.data[:n], header=h.header)
                hdus.append(h)
        hdul = fits.HDUList(hdus)
        change(hdul)
        gz_write(hdul, case(name, "events", expected), edit_header)

    def drop_column(col):
        def change(h):
            ev = h["EVENTS"]
            cols = [c for c in ev.columns if c.name != col]
            h[h.index_of("EVENTS")] = fits.BinTableHDU.from_columns(cols, header=ev.header)
        return change

    name = f"P{obsid}PNS0{{:02d}}PIEVLI0000.FTZ"
    broken(name.format(91), r"TIME", drop_column("TIME"))
    broken(name.format(92), r"PI", drop_column("PI"))
    broken(name.format(93), r"no sky WCS for the X/Y columns \(keyword TCRVL\d+ missing\)", lambda h: None,
           edit_header=lambda h: [h["EVENTS"].header.remove(k) for k in list(h["EVENTS"].header) if k.startswith("TCRVL")])
    broken(name.format(94), r"column PI value -5 in row 1 is outside 0\.\.32767", lambda h: h["EVENTS"].data["PI"].__setitem__(0, -5))
    broken(name.format(95), r"EVENTS", lambda h: h.pop(h.index_of("EVENTS")))
    broken(name.format(96), r"no good time intervals", lambda h: [h.pop(i) for i in sorted(
        (i for i, x in enumerate(h) if x.name.startswith("STDGTI") or x.name == "GTI"), reverse=True)])
    broken(name.format(97), r"no good time intervals", lambda h: [h.__setitem__(i, fits.BinTableHDU(x.data[:0], header=x.header))
                                                     for i, x in enumerate(h) if x.name.startswith("STDGTI") or x.name == "GTI"])
    broken(name.format(98), r"TIME|NaN|finite", lambda h: h["EVENTS"].data["TIME"].__setitem__(2, np.nan))
    broken(name.format(99), r"no valid OBS_ID keyword \('ABC'\)", lambda h: [x.header.__setitem__("OBS_ID", "ABC") for x in h])
    data = gzip.decompress(src.read_bytes())
    with gzip.open(case(f"P{obsid}PNS089PIEVLI0000.FTZ", "events", r"cannot read|truncated"), "wb") as g:
        g.write(data[: len(data) // 3])
    orbit = sorted((SAMPLE / "events").glob("*ORBTSR*.FTZ"))[0]
    with fits.open(orbit) as hdul:
        h = fits.HDUList([x.copy() for x in hdul])
    o = h["ORBIT"]
    h["ORBIT"] = fits.BinTableHDU.from_columns([c for c in o.columns if c.name != "GEI_X"], header=o.header)
    gz_write(h, case(f"P{orbit.name[1:11]}OBX099ORBTSR0000.FTZ", "events", r"GEI_X"))


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    catalogue_cases()
    spectrum_cases()
    event_cases()
    lines = ["file\tkind\texpected"] + ["\t".join(c) for c in CASES]
    (OUT / "MANIFEST.tsv").write_text("\n".join(lines) + "\n")
    print(f"{len(CASES)} malformed files in {OUT}")


if __name__ == "__main__":
    main()
