/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * VHD format library: encode, decode and validate the on-disk structures
 * of fixed, dynamic and differencing VHD images (Microsoft VHD spec v1.0
 * plus blktap's extensions: creator "tap\0", the hidden flag, the batmap,
 * LSB-first bitmaps of tap 0.1, raw parents), and a thin synchronous file
 * layer (pread/pwrite) for vhd-util and for a driver's open/close path.
 *
 * There is no I/O policy here: the file layer never caches data blocks or
 * reorders anything. The vhd driver does its data-path I/O asynchronously
 * itself, using the in-memory tables of a struct td_vhd opened here and
 * the pure helpers (bitmap, BAT sector encoding, block placement).
 *
 * Every field read from a file is validated before use. Failures return
 * -errno and, if an error sink is given, one precise line naming the file,
 * the field and its byte offset, e.g.
 *   "vhd: /x.vhd: BAT entry 12 at offset 0x630 points past end of file
 *    (0x200000 >= 0x1a00)".
 * Nothing is ever written to a file that failed validation.
 *
 * Threading: none of this is thread-safe; a struct td_vhd belongs to one
 * thread (the loop thread in tapdisk). Functions marked "sync I/O" block
 * and belong on the control path (open, close, vhd-util), never on the
 * data path.
 */
#ifndef TD_VHD_FORMAT_H
#define TD_VHD_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- constants ---------------------------------------------------- */

#define TD_VHD_SECTOR 512u
#define TD_VHD_SECTOR_SHIFT 9
#define TD_VHD_FOOTER_SIZE 512u
#define TD_VHD_LEGACY_FOOTER_SIZE 511u /* pre-Virtual PC 2004 fixed disks */
#define TD_VHD_HEADER_SIZE 1024u
#define TD_VHD_BATMAP_HDR_SIZE 512u
#define TD_VHD_BLOCK_SIZE (2u << 20)   /* the only block size we create */
#define TD_VHD_MAX_BLOCK_SIZE (2u << 20) /* largest accepted (as blktap) */
#define TD_VHD_MIN_BLOCK_SIZE 4096u    /* smallest accepted */
#define TD_VHD_BAT_UNUSED 0xffffffffu  /* BAT entry of an unallocated block */
/* Largest dynamic/differencing/fixed virtual size: 0xFF000000 sectors. */
#define TD_VHD_MAX_SIZE (2040ull << 30)
/* BAT entries above this are refused as absurd (64 MiB of BAT: 2 TiB
 * of 128 KiB blocks, or 32 TiB of 2 MiB blocks). */
#define TD_VHD_MAX_BAT_ENTRIES (1u << 24)
#define TD_VHD_MAX_CHAIN 256u          /* longest parent chain opened */
#define TD_VHD_PARENT_NAME_SIZE 512u   /* bytes of UTF-16BE in the header */
#define TD_VHD_NR_LOCATORS 8u
#define TD_VHD_LOCATOR_SPACE 512u      /* bytes we reserve per locator */
#define TD_VHD_DATA_ALIGN 4096u        /* block data areas we allocate */

#define TD_VHD_FOOTER_COOKIE "conectix"
#define TD_VHD_HEADER_COOKIE "cxsparse"
#define TD_VHD_BATMAP_COOKIE "tdbatmap"
/* blktap marks a VHD disabled during a journaled operation with this. */
#define TD_VHD_POISON_COOKIE "v_poison"

#define TD_VHD_FEAT_TEMPORARY 0x1u
#define TD_VHD_FEAT_RESERVED 0x2u      /* must be set */
#define TD_VHD_FF_VERSION 0x00010000u
#define TD_VHD_HDR_VERSION 0x00010000u
#define TD_VHD_BATMAP_VERSION 0x00010002u
#define TD_VHD_BATMAP_VERSION_1_1 0x00010001u /* signed-char checksum */

/* Creator application "tap\0" and its versions (major << 16 | minor). */
#define TD_VHD_CREATOR_TAP 0x74617000u
#define TD_VHD_TAP_V0_1 0x00000001u    /* LSB-first sector bitmaps */
#define TD_VHD_TAP_V1_1 0x00010001u    /* MSB-first bitmaps, batmap */
#define TD_VHD_TAP_V1_2 0x00010002u
#define TD_VHD_TAP_VERSION 0x00010003u /* what we write */

/* Parent locator platform codes. */
#define TD_VHD_PLAT_NONE 0u
#define TD_VHD_PLAT_WI2R 0x57693272u   /* deprecated */
#define TD_VHD_PLAT_WI2K 0x5769326Bu   /* deprecated */
#define TD_VHD_PLAT_W2RU 0x57327275u   /* relative, UTF-16LE */
#define TD_VHD_PLAT_W2KU 0x57326B75u   /* absolute, UTF-16LE */
#define TD_VHD_PLAT_MAC 0x4D616320u    /* Mac OS alias blob (unused) */
#define TD_VHD_PLAT_MACX 0x4D616358u   /* file URL, UTF-8 */

/* Seconds from the Unix epoch to the VHD epoch 2000-01-01 00:00:00 UTC. */
#define TD_VHD_EPOCH_OFFSET 946684800ll

enum td_vhd_type {
	TD_VHD_TYPE_NONE = 0,
	TD_VHD_TYPE_FIXED = 2,
	TD_VHD_TYPE_DYNAMIC = 3,
	TD_VHD_TYPE_DIFF = 4,
};

/* ---- errors ------------------------------------------------------- */

/*
 * Error sink. The caller sets @name (usually the file path, borrowed for
 * the call) and passes the sink down; the first failing check writes
 * "vhd: NAME: message" into @msg. Every function taking a sink accepts
 * NULL. A sink that already holds a message is overwritten.
 */
struct td_vhd_err {
	const char *name;
	char msg[640];
};

/* Formats a message into @err (if not NULL); returns @rc for chaining. */
int td_vhd_error(struct td_vhd_err *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- decoded structures (host endianness) ------------------------- */

struct td_vhd_footer {
	char cookie[8];
	uint32_t features;
	uint32_t ff_version;
	uint64_t data_offset;      /* dynamic header offset; ~0 for fixed */
	uint32_t timestamp;        /* seconds since 2000-01-01 UTC */
	uint32_t crtr_app;         /* e.g. TD_VHD_CREATOR_TAP */
	uint32_t crtr_ver;
	uint32_t crtr_os;
	uint64_t orig_size;
	uint64_t curr_size;        /* the virtual size, in bytes */
	uint16_t cyls;
	uint8_t heads;
	uint8_t spt;
	uint32_t type;             /* enum td_vhd_type */
	uint32_t checksum;         /* as stored */
	uint8_t uuid[16];
	uint8_t saved_state;
	uint8_t hidden;            /* blktap: hidden node of a snapshot tree */
};

struct td_vhd_locator {
	uint32_t code;             /* TD_VHD_PLAT_* */
	uint32_t data_space;       /* as stored: bytes, or sectors if < 512 */
	uint32_t data_len;         /* bytes of path text */
	uint32_t reserved;
	uint64_t data_offset;      /* absolute byte offset of the text */
};

struct td_vhd_header {
	char cookie[8];
	uint64_t data_offset;      /* unused, must be ~0 */
	uint64_t table_offset;     /* BAT byte offset */
	uint32_t hdr_version;
	uint32_t max_bat;          /* BAT entries */
	uint32_t block_size;       /* data bytes per block */
	uint32_t checksum;         /* as stored */
	uint8_t prt_uuid[16];
	uint32_t prt_ts;
	uint32_t reserved;
	uint8_t prt_name[TD_VHD_PARENT_NAME_SIZE]; /* raw UTF-16BE */
	struct td_vhd_locator loc[TD_VHD_NR_LOCATORS];
};

struct td_vhd_batmap_hdr {
	char cookie[8];
	uint64_t batmap_offset;    /* byte offset of the bit map */
	uint32_t batmap_size;      /* sectors */
	uint32_t batmap_version;
	uint32_t checksum;         /* as stored */
	uint8_t marker;
	uint8_t keyhash_set;
	uint8_t keyhash_nonce[32];
	uint8_t keyhash_hash[32];
};

/* ---- pure helpers: checksums, encode, decode, validate ------------ */

/*
 * Spec checksum: NOT of the byte sum of @len bytes of @buf, the 4 bytes at
 * @csum_off counted as zero. Footer: len 512, off 64. Header: 1024, 36.
 */
uint32_t td_vhd_checksum(const void *buf, size_t len, size_t csum_off);

/*
 * Decodes 512 bytes (or a 511-byte legacy footer padded by the caller
 * with a trailing zero) into @f. Never fails: validation is separate.
 */
void td_vhd_footer_decode(const void *buf, struct td_vhd_footer *f);
/* Encodes @f into 512 bytes at @buf, computing and storing the checksum
 * (f->checksum is updated). */
void td_vhd_footer_encode(struct td_vhd_footer *f, void *buf);
/*
 * Validates a footer read from @raw (512 bytes) at file offset @off of a
 * file of @file_size bytes: cookie, checksum (tolerating an unsummed
 * hidden flag for tap 0.1/1.1 as blktap does), features, version, type,
 * size (<= 2040 GiB, sector multiple), data offset. Returns 0, -EINVAL
 * (bad field), -EILSEQ (bad checksum) or -ENOTSUP (poisoned by a
 * journaled operation, cookie "v_poison"; @f is still decoded).
 */
int td_vhd_footer_validate(const void *raw, const struct td_vhd_footer *f,
			   uint64_t off, uint64_t file_size,
			   struct td_vhd_err *err);

void td_vhd_header_decode(const void *buf, struct td_vhd_header *h);
/* Encodes @h into 1024 bytes, computing the checksum (h->checksum set). */
void td_vhd_header_encode(struct td_vhd_header *h, void *buf);
/*
 * Validates a dynamic header read from @raw (1024 bytes) at @off, for a
 * disk whose footer is @f, in a file of @file_size bytes: cookie,
 * checksum, version, data offset, block size (power of two, 4 KiB..2 MiB),
 * BAT placement and size (max_bat covers curr_size, not absurd, inside
 * the file), locators (inside the file, not overlapping the BAT).
 * Returns 0 or -EINVAL / -EILSEQ.
 */
int td_vhd_header_validate(const void *raw, const struct td_vhd_header *h,
			   const struct td_vhd_footer *f, uint64_t off,
			   uint64_t file_size, struct td_vhd_err *err);

/*
 * Bytes of locator data space: blktap and Hyper-V store bytes, the spec
 * sectors; values below 512 are sectors, multiples of 512 are bytes, and
 * anything else is invalid (returns 0).
 */
uint64_t td_vhd_locator_space(const struct td_vhd_locator *l);

void td_vhd_batmap_hdr_decode(const void *buf, struct td_vhd_batmap_hdr *b);
void td_vhd_batmap_hdr_encode(const struct td_vhd_batmap_hdr *b, void *buf);
/*
 * Batmap checksum over the map as blktap defines it: only the first
 * max(512, round_up_512(curr_size >> 24)) bytes count (assumes 2 MiB
 * blocks), capped at @map_len; version 1.1 summed signed chars.
 */
uint32_t td_vhd_batmap_checksum(const uint8_t *map, size_t map_len,
				uint64_t curr_size, uint32_t version);

/* Decodes/encodes @n big-endian u32 BAT entries. */
void td_vhd_bat_decode(const void *buf, uint32_t *bat, uint32_t n);
void td_vhd_bat_encode(const uint32_t *bat, void *buf, uint32_t n);

/*
 * CHS geometry of @size bytes by the spec algorithm (capped at
 * 65535/16/255). td_vhd_chs_bytes is C*H*S*512 of a geometry.
 */
void td_vhd_chs(uint64_t size, uint16_t *cyls, uint8_t *heads, uint8_t *spt);
uint64_t td_vhd_chs_bytes(uint16_t cyls, uint8_t heads, uint8_t spt);

/* VHD time stamp of a Unix time, and back. Clamped to the u32 range. */
uint32_t td_vhd_time(int64_t unix_time);
int64_t td_vhd_unix_time(uint32_t vhd_time);

/* "tap", "vpc ", "qem2", ... as a printable NUL-terminated string. */
void td_vhd_creator_str(uint32_t crtr_app, char out[5]);
/* "fixed", "dynamic", "differencing" or "unknown". */
const char *td_vhd_type_str(uint32_t type);

/* ---- sector bitmaps and the batmap -------------------------------- */

/*
 * Sector bitmaps: bit @i is sector @i of a block. @le selects the
 * LSB-first order of tap 0.1 images (bit 1 << (i % 8)); otherwise the
 * standard MSB-first order (0x80 >> (i % 8)). The batmap is always
 * MSB-first (pass le = false).
 */
bool td_vhd_bitmap_test(const uint8_t *map, uint32_t i, bool le);
void td_vhd_bitmap_set(uint8_t *map, uint32_t i, bool le);
void td_vhd_bitmap_clear(uint8_t *map, uint32_t i, bool le);
/* Sets bits [@first, @first + @n). */
void td_vhd_bitmap_set_range(uint8_t *map, uint32_t first, uint32_t n,
			     bool le);
/*
 * Length of the run of equal bits starting at @first, at most @max;
 * *@set receives the run's value. @max must be >= 1.
 */
uint32_t td_vhd_bitmap_run(const uint8_t *map, uint32_t first, uint32_t max,
			   bool le, bool *set);
/* True if the first @nbits bits are all set. */
bool td_vhd_bitmap_full(const uint8_t *map, uint32_t nbits, bool le);

/* ---- UTF-16 and paths --------------------------------------------- */

/*
 * Converts UTF-8 @in to UTF-16 (@be: big- or little-endian) into @out of
 * @outlen bytes (not NUL-terminated). *@written receives the byte count.
 * Returns 0, -EILSEQ on invalid UTF-8, -ENAMETOOLONG if it does not fit.
 */
int td_vhd_utf8_to_utf16(const char *in, uint8_t *out, size_t outlen,
			 bool be, size_t *written);
/*
 * Converts @inlen bytes of UTF-16 (stopping at a NUL code unit) to a
 * NUL-terminated UTF-8 string in @out. Returns 0, -EILSEQ on bad
 * surrogates or an odd length, -ENAMETOOLONG.
 */
int td_vhd_utf16_to_utf8(const uint8_t *in, size_t inlen, bool be,
			 char *out, size_t outlen);

/*
 * Path of @target relative to the directory containing @from (both
 * absolute, normalised), e.g. "../base/p.vhd". Returns 0 or -ENAMETOOLONG.
 */
int td_vhd_relpath(const char *from, const char *target, char *out,
		   size_t outlen);

/* ---- the file layer ----------------------------------------------- */

/* td_vhd_open flags. */
#define TD_VHD_OPEN_RDONLY (1u << 0)
/* Open a "v_poison" (disabled) image anyway; it stays read-only unless
 * TD_VHD_OPEN_RDONLY is clear (used by revert/repair). */
#define TD_VHD_OPEN_IGNORE_DISABLED (1u << 1)
/* Skip the batmap checksum/size check (read-only users ignore it). */
#define TD_VHD_OPEN_IGNORE_BATMAP (1u << 2)
/* Open every file with O_DIRECT (the library's buffers are aligned). */
#define TD_VHD_OPEN_DIRECT (1u << 3)
/* Do not scan every BAT entry for overlaps (fast open of huge BATs). */
#define TD_VHD_OPEN_FAST (1u << 4)

/* Where the trusted footer came from. */
enum td_vhd_footer_src {
	TD_VHD_FOOTER_TAIL,        /* EOF - 512 */
	TD_VHD_FOOTER_LEGACY,      /* EOF - 511 (fixed only) */
	TD_VHD_FOOTER_HEAD,        /* offset 0 copy (tail missing or bad) */
};

/*
 * One open VHD file (or, as the base of a chain, a raw file: raw = true,
 * only fd, path, size and parent == NULL are meaningful). All fields are
 * read-only to users except where a function says otherwise; a driver
 * may read them directly and update bat[]/batmap/next_db only through the
 * allocation helpers below.
 */
struct td_vhd {
	int fd;
	char *path;                /* as given to open (owned) */
	unsigned flags;            /* TD_VHD_OPEN_* */
	bool raw;                  /* raw parent file, not a VHD */
	uint64_t file_size;        /* at open, updated by writes here */
	dev_t dev;                 /* identity, for loop detection */
	ino_t ino;

	struct td_vhd_footer footer;
	enum td_vhd_footer_src footer_src;
	bool tail_ok;              /* tail footer present and valid */
	bool head_ok;              /* offset-0 copy present and valid */
	bool poisoned;             /* cookie was "v_poison" */

	/* dynamic and differencing only (zero/NULL for fixed): */
	struct td_vhd_header header;
	uint32_t *bat;             /* header.max_bat host-endian entries */
	uint32_t bat_used;         /* entries covering curr_size */
	uint32_t spb;              /* sectors per block */
	uint32_t bm_secs;          /* bitmap sectors per block */
	uint32_t bm_bytes;         /* bm_secs * 512 */
	bool bm_le;                /* tap 0.1: LSB-first bitmaps */
	/* blktap batmap (has_batmap only): one MSB-first bit per BAT entry,
	 * set iff the block's sector bitmap is full. */
	bool has_batmap;
	bool batmap_ok;            /* checksum valid at open */
	struct td_vhd_batmap_hdr batmap_hdr;
	uint8_t *batmap;           /* batmap_hdr.batmap_size sectors */
	/* Sector where the next allocated block's bitmap goes: end of all
	 * metadata and data, rounded so the data area is 4 KiB-aligned. */
	uint64_t next_db;
	uint64_t meta_end;         /* end of header/BAT/batmap/locators */

	struct td_vhd *parent;     /* set by td_vhd_open_chain, owned */
};

/*
 * Opens and fully validates @path (footer copies, header, BAT entries
 * within the file and not overlapping each other or the metadata,
 * bitmaps within the file, batmap, locators). Sync I/O. Read-write opens
 * are refused for poisoned images unless IGNORE_DISABLED, and for tap
 * images newer than ours. *@out is owned by the caller (td_vhd_close).
 * Returns 0 or -errno with @err filled.
 */
int td_vhd_open(const char *path, unsigned flags, struct td_vhd **out,
		struct td_vhd_err *err);

/* Opens @path as a raw (non-VHD) parent, read-only. */
int td_vhd_open_raw(const char *path, unsigned flags, struct td_vhd **out,
		    struct td_vhd_err *err);

/*
 * Opens @path and every parent it names (parents read-only), setting
 * ->parent links. Each link is checked: parent UUID matches (or parent is
 * raw for an all-zero parent UUID), no loops (same device/inode seen
 * twice), at most TD_VHD_MAX_CHAIN deep. Sync I/O.
 */
int td_vhd_open_chain(const char *path, unsigned flags, struct td_vhd **out,
		      struct td_vhd_err *err);

/* Closes @v and the parents td_vhd_open_chain opened. NULL is a no-op.
 * Writes nothing (callers write the footer explicitly). */
void td_vhd_close(struct td_vhd *v);

/*
 * Finds the parent of differencing @v: tries the locators (relative ones
 * first, then absolute), then the header's parent unicode name, each
 * relative to the directory of @v->path unless absolute, and returns the
 * first candidate that exists in @out. *@raw is set if the parent UUID is
 * all zero (raw parent). Returns 0, -EINVAL if @v is not differencing,
 * -ENOENT if no candidate exists.
 */
int td_vhd_parent_path(const struct td_vhd *v, char *out, size_t outlen,
		       bool *raw, struct td_vhd_err *err);

/*
 * Decodes parent locator @i of @v (W2ru, W2ku: UTF-16LE with '\\' turned
 * into '/'; MacX: the path of its file URL) into @out. *@relative is set
 * unless the path starts with '/'. Returns 0, -ENOTSUP for other platform
 * codes, or -errno. Sync I/O.
 */
int td_vhd_parent_locator_text(const struct td_vhd *v, unsigned i, char *out,
			       size_t outlen, bool *relative,
			       struct td_vhd_err *err);

/*
 * Metadata of the image occupying bytes [@base, @base + @len) of @fd,
 * without opening it: the footer copy at offset 0 (its only footer for a
 * VHD on a logical volume read through the physical volume, as vhd-util
 * scan -l does) and, unless fixed, the dynamic header; both validated
 * against @len, poisoned images accepted. Offsets in errors are relative
 * to @base. Buffers are aligned and reads whole sectors, so @fd may be
 * O_DIRECT (@base must then be sector-aligned). Sync I/O.
 */
int td_vhd_peek(int fd, uint64_t base, uint64_t len, struct td_vhd_footer *f,
		struct td_vhd_header *h, struct td_vhd_err *err);
/* td_vhd_parent_locator_text for a header read by td_vhd_peek. */
int td_vhd_peek_locator(int fd, uint64_t base, const struct td_vhd_header *h,
			unsigned i, char *out, size_t outlen, bool *relative,
			struct td_vhd_err *err);

/* True if differencing @v names a raw parent (all-zero parent UUID). */
bool td_vhd_parent_is_raw(const struct td_vhd *v);

/* Checks that @parent is the image @child was made against (UUID, or raw
 * for a raw-parent child). Returns 0 or -EINVAL. */
int td_vhd_validate_parent(const struct td_vhd *child,
			   const struct td_vhd *parent, struct td_vhd_err *err);

/* Virtual size in bytes (footer current size; raw: file size). */
uint64_t td_vhd_size(const struct td_vhd *v);

/*
 * Bytes the image occupies as blktap reports it: end of metadata and
 * data plus the footer (fixed: current size + footer; raw: file size).
 */
uint64_t td_vhd_phys_size(const struct td_vhd *v);

/* ---- block mapping and allocation (pure, no I/O) ------------------ */

/* Byte offset of block @blk's bitmap, or 0 if unallocated/out of range. */
uint64_t td_vhd_block_offset(const struct td_vhd *v, uint32_t blk);
/* Byte offset of the data of virtual sector @sector in this file if its
 * block is allocated (the bitmap is not consulted), else 0. */
uint64_t td_vhd_sector_offset(const struct td_vhd *v, uint64_t sector);

/*
 * Reserves room for one new block: returns the sector for its bitmap (the
 * data follows at +bm_secs and is 4 KiB-aligned) and advances next_db by
 * the block. Does NOT touch bat[]: the caller writes zeroed bitmap + data,
 * then commits with td_vhd_bat_set. Returns -ENOSPC when the block would
 * pass the u32 sector limit.
 */
int td_vhd_reserve_block(struct td_vhd *v, uint32_t *sector);
/* Records @sector for block @blk in the in-memory BAT. */
void td_vhd_bat_set(struct td_vhd *v, uint32_t blk, uint32_t sector);
/*
 * Encodes the 512-byte BAT sector holding entry @blk into @buf (from the
 * in-memory BAT) and returns its byte offset in the file.
 */
uint64_t td_vhd_bat_sector(const struct td_vhd *v, uint32_t blk,
			   void *buf);
/* Sets/clears block @blk's batmap bit in memory (no-op without batmap). */
void td_vhd_batmap_mark(struct td_vhd *v, uint32_t blk, bool full);
/* True if the batmap says block @blk is fully allocated. */
bool td_vhd_batmap_test(const struct td_vhd *v, uint32_t blk);

/* ---- synchronous metadata and data I/O (control path) ------------- */

/* Reads / writes block @blk's sector bitmap (v->bm_bytes) at its place. */
int td_vhd_read_bitmap(struct td_vhd *v, uint32_t blk, uint8_t *bm,
		       struct td_vhd_err *err);
int td_vhd_write_bitmap(struct td_vhd *v, uint32_t blk, const uint8_t *bm,
			struct td_vhd_err *err);

/*
 * Writes the footer at the end of data (fixed: after the data) and
 * truncates the file after it; on a block device, whose size is fixed,
 * at its last sector instead, as blktap does (a logical volume is sized
 * ahead of its data). Then, for dynamic/differencing, the copy at offset
 * 0. Also clears a poison cookie. Sync I/O.
 */
int td_vhd_write_footer(struct td_vhd *v, struct td_vhd_err *err);
/* Writes the dynamic header / the whole BAT / the batmap (header + map,
 * checksum recomputed). Sync I/O. */
int td_vhd_write_header(struct td_vhd *v, struct td_vhd_err *err);
int td_vhd_write_bat(struct td_vhd *v, struct td_vhd_err *err);
int td_vhd_write_batmap(struct td_vhd *v, struct td_vhd_err *err);

/*
 * Reads @nr sectors from virtual sector @sector of @v into @buf, through
 * the chain: allocated sectors from this file, the rest from the parent,
 * zeros past the last image or past a smaller parent's end. A
 * differencing @v needs its parents (td_vhd_open_chain), else -ENOLINK.
 * With TD_VHD_OPEN_DIRECT, @buf must be 4 KiB-aligned. Sync I/O.
 */
int td_vhd_read(struct td_vhd *v, uint64_t sector, uint32_t nr, void *buf,
		struct td_vhd_err *err);
/*
 * Writes @nr sectors at @sector into @v (this file only), allocating
 * blocks (zeroed bitmap, data, bitmap, BAT) as needed; the footer is
 * written by td_vhd_write_footer afterwards. Sync I/O, for vhd-util.
 */
int td_vhd_write(struct td_vhd *v, uint64_t sector, uint32_t nr,
		 const void *buf, struct td_vhd_err *err);
/*
 * As td_vhd_write, with the data taken from @fd at byte @off and copied in
 * the kernel (copy_file_range) where the file systems allow, so a
 * coalesce moves each byte once. Same allocation order. Sync I/O.
 */
int td_vhd_write_from_fd(struct td_vhd *v, uint64_t sector, uint32_t nr,
			 int fd, uint64_t off, struct td_vhd_err *err);
/*
 * Copies @len bytes from @in at @in_off to @out at @out_off with
 * copy_file_range, falling back to read and write through an aligned
 * buffer (O_DIRECT descriptors, different file systems). Returns 0 or
 * -errno (-EIO if @in ends early).
 */
int td_vhd_copy_file_range(int in, uint64_t in_off, int out,
			   uint64_t out_off, uint64_t len);

/*
 * Allocation state of @nr sectors from @sector in this file only: sets
 * *@run (>= 1) to the length of the first run and *@alloc to whether
 * those sectors are stored here. Reads bitmaps (sync I/O) unless the
 * batmap says the block is full.
 */
int td_vhd_sector_status(struct td_vhd *v, uint64_t sector, uint64_t nr,
			 bool *alloc, uint64_t *run, struct td_vhd_err *err);

/* ---- creation and metadata changes -------------------------------- */

struct td_vhd_create_opts {
	uint64_t size;             /* virtual bytes; rounded up to 2 MiB */
	uint64_t max_size;         /* BAT/batmap sized for this (0: size) */
	enum td_vhd_type type;     /* FIXED, DYNAMIC or DIFF */
	const char *parent;        /* DIFF: parent path (VHD or raw) */
	bool parent_raw;           /* DIFF: parent is a raw file */
	bool prealloc;             /* FIXED: write zeros, not a sparse file */
	uint8_t uuid[16];          /* all-zero: generate one */
};

/*
 * Creates a new image at @path (must not exist: O_EXCL). For DIFF, the
 * parent is opened read-only to read its UUID, size and mtime; size 0
 * means the parent's size. Writes MacX and W2ru locators with the path
 * relative to the child, and W2ku with the absolute path; the parent
 * unicode name is the basename. On failure the new file is removed.
 */
int td_vhd_create(const char *path, const struct td_vhd_create_opts *o,
		  struct td_vhd_err *err);

/*
 * For vhd-util repair: gives a tap 1.2+ image whose batmap header was
 * destroyed (opened with TD_VHD_OPEN_IGNORE_BATMAP, so has_batmap is
 * false) an empty batmap at its standard place after the BAT, if that
 * space holds nothing else (-ENOSPC otherwise). In memory only: the
 * caller sets the bits (td_vhd_batmap_mark) and writes it with
 * td_vhd_write_batmap. No-op for images that have one or never had.
 */
int td_vhd_restore_batmap(struct td_vhd *v, struct td_vhd_err *err);

/*
 * modify -s (blktap's vhd_set_phys_size): moves the footer to @size - 512
 * so the image ends at @size, e.g. at the end of a logical volume that
 * was just grown or is about to shrink. @size is a multiple of 512, at
 * least the physical size (end of data + footer) and, on a block device,
 * at most its size; a regular file is extended or truncated to @size
 * after the footer is written and synced (a valid footer ends the file at
 * every step). Dynamic and differencing images only. Sync I/O.
 */
int td_vhd_set_phys_size(struct td_vhd *v, uint64_t size,
			 struct td_vhd_err *err);

/* Sets the hidden flag (footer, both copies). Sync I/O. */
int td_vhd_set_hidden(struct td_vhd *v, bool hidden, struct td_vhd_err *err);
/* Sets the batmap marker byte. Returns -EINVAL without a batmap. */
int td_vhd_set_marker(struct td_vhd *v, uint8_t marker,
		      struct td_vhd_err *err);
/*
 * Re-points differencing @v at @parent_path (modify -P): parent UUID,
 * time stamp, unicode name and locators are rewritten (the locator space
 * is reused if it fits, else appended). @parent_raw: parent is raw.
 * Does not check that the data matches. Sync I/O.
 */
int td_vhd_set_parent(struct td_vhd *v, const char *parent_path,
		      bool parent_raw, struct td_vhd_err *err);

#endif /* TD_VHD_FORMAT_H */
