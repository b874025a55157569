/*-------------------------------------------------------------------------
 *
 * hmac.c
 *	  HMAC-SHA256 for the "hash" anonymisation method (gdpr.pseudonym).
 *
 * The method runs once per value of a bulk anonymisation, so it must be
 * cheap.  PostgreSQL's pg_hmac_* API allocates and registers an OpenSSL
 * context for every call, which costs several times the hashing itself.
 * Here SHA-256 (FIPS 180-4) is computed in place, and the key's inner and
 * outer HMAC states (RFC 2104) are computed once per key and reused, so a
 * short value costs three compression rounds and no allocation.  The
 * regression tests check the result against pgcrypto's hmac().
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/hmac.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_pseudonym);

#define SHA256_BLOCK	64
#define SHA256_DIGEST	32

/* a SHA-256 computation in progress */
typedef struct Sha256
{
	uint32		h[8];
	uint64		length;			/* bytes hashed so far */
	uint8		buf[SHA256_BLOCK];
	int			buflen;
} Sha256;

static const uint32 sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

static const uint32 sha256_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};

/* Local state: the HMAC states of the last key used */
static char *cached_key = NULL;	/* in TopMemoryContext */
static Sha256 cached_inner;
static Sha256 cached_outer;

#define ROTR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))

/*
 * sha256_compress
 *		Process one 64-byte block into the state h.
 */
static void
sha256_compress(uint32 *h, const uint8 *block)
{
	uint32		w[64];
	uint32		a, b, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = ((uint32) block[i * 4] << 24) | ((uint32) block[i * 4 + 1] << 16) |
			((uint32) block[i * 4 + 2] << 8) | (uint32) block[i * 4 + 3];
	for (int i = 16; i < 64; i++)
	{
		uint32		s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32		s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}

	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	f = h[5];
	g = h[6];
	hh = h[7];
	for (int i = 0; i < 64; i++)
	{
		uint32		S1 = ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25);
		uint32		ch = (e & f) ^ (~e & g);
		uint32		t1 = hh + S1 + ch + sha256_k[i] + w[i];
		uint32		S0 = ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22);
		uint32		maj = (a & b) ^ (a & c) ^ (b & c);
		uint32		t2 = S0 + maj;

		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

/*
 * sha256_init
 *		Start a SHA-256 computation.
 */
static void
sha256_init(Sha256 *ctx)
{
	memcpy(ctx->h, sha256_iv, sizeof(ctx->h));
	ctx->length = 0;
	ctx->buflen = 0;
}

/*
 * sha256_update
 *		Hash len more bytes of data.
 */
static void
sha256_update(Sha256 *ctx, const uint8 *data, size_t len)
{
	ctx->length += len;
	if (ctx->buflen > 0)
	{
		size_t		take = Min(len, (size_t) (SHA256_BLOCK - ctx->buflen));

		memcpy(ctx->buf + ctx->buflen, data, take);
		ctx->buflen += take;
		data += take;
		len -= take;
		if (ctx->buflen < SHA256_BLOCK)
			return;
		sha256_compress(ctx->h, ctx->buf);
		ctx->buflen = 0;
	}
	while (len >= SHA256_BLOCK)
	{
		sha256_compress(ctx->h, data);
		data += SHA256_BLOCK;
		len -= SHA256_BLOCK;
	}
	memcpy(ctx->buf, data, len);
	ctx->buflen = len;
}

/*
 * sha256_final
 *		Pad, finish and write the 32-byte digest.
 */
static void
sha256_final(Sha256 *ctx, uint8 *digest)
{
	uint64		bits = ctx->length * 8;
	uint8		pad[SHA256_BLOCK * 2];
	int			padlen = (ctx->buflen < 56) ? 56 - ctx->buflen : 120 - ctx->buflen;

	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8) (bits >> (56 - 8 * i));
	sha256_update(ctx, pad, padlen + 8);
	for (int i = 0; i < 8; i++)
	{
		digest[i * 4] = (uint8) (ctx->h[i] >> 24);
		digest[i * 4 + 1] = (uint8) (ctx->h[i] >> 16);
		digest[i * 4 + 2] = (uint8) (ctx->h[i] >> 8);
		digest[i * 4 + 3] = (uint8) ctx->h[i];
	}
}

/*
 * prepare_key
 *		Compute (once per key) the HMAC inner and outer states of key.
 */
static void
prepare_key(const char *key)
{
	uint8		block[SHA256_BLOCK];
	uint8		pad[SHA256_BLOCK];
	size_t		keylen = strlen(key);

	if (cached_key != NULL && strcmp(cached_key, key) == 0)
		return;

	/* a key longer than a block is replaced by its digest */
	memset(block, 0, sizeof(block));
	if (keylen > SHA256_BLOCK)
	{
		Sha256		kctx;

		sha256_init(&kctx);
		sha256_update(&kctx, (const uint8 *) key, keylen);
		sha256_final(&kctx, block);
	}
	else
		memcpy(block, key, keylen);

	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = block[i] ^ 0x36;
	sha256_init(&cached_inner);
	sha256_update(&cached_inner, pad, SHA256_BLOCK);
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = block[i] ^ 0x5c;
	sha256_init(&cached_outer);
	sha256_update(&cached_outer, pad, SHA256_BLOCK);

	explicit_bzero(block, sizeof(block));
	explicit_bzero(pad, sizeof(pad));
	if (cached_key != NULL)
	{
		explicit_bzero(cached_key, strlen(cached_key));
		pfree(cached_key);
	}
	cached_key = MemoryContextStrdup(TopMemoryContext, key);
}

/*
 * gdpr_pseudonym
 *		SQL function gdpr.pseudonym(text): HMAC-SHA256 of the value keyed by
 *		the pseudonym key (gdpr.pseudonym_key_file or gdpr.pseudonym_key), as
 *		64 lower-case hex digits.
 *
 * The same input gives the same output in every table, so joins on
 * pseudonyms keep working.  An empty key is an error: a keyless hash of,
 * say, an e-mail address is trivially reversed by guessing.
 */
Datum
gdpr_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	Sha256		ctx;
	uint8		digest[SHA256_DIGEST];
	char		hex[SHA256_DIGEST * 2];
	static const char hexdigits[] = "0123456789abcdef";

	prepare_key(gdpr_pseudonym_key_value());
	ctx = cached_inner;
	sha256_update(&ctx, (const uint8 *) VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	sha256_final(&ctx, digest);
	ctx = cached_outer;
	sha256_update(&ctx, digest, SHA256_DIGEST);
	sha256_final(&ctx, digest);

	for (int i = 0; i < SHA256_DIGEST; i++)
	{
		hex[i * 2] = hexdigits[digest[i] >> 4];
		hex[i * 2 + 1] = hexdigits[digest[i] & 0x0f];
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(hex, sizeof(hex)));
}
