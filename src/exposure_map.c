/*
 * xmm.map_value: the pixel of an exposure map (xmm.exposure_map,
 * sql/63_exposure_maps.sql) under a sky position.
 *
 * C because SQL has no cast from four bytes to a float, and because a map's
 * pixels are a megabyte: PG_GETARG_BYTEA_P_SLICE fetches only the TOAST chunk
 * that holds the pixel (the column is stored uncompressed for this), where a
 * SQL function would read the whole map for each position.
 *
 * The position is projected on the map's TAN grid (gnomonic projection about
 * CRVAL, north up, no rotation; FITS WCS Paper II) and the pixel is the one
 * whose centre is nearest: FITS pixel p covers p - 0.5 .. p + 0.5.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "fmgr.h"

PG_FUNCTION_INFO_V1(xmm_map_value);

Datum
xmm_map_value(PG_FUNCTION_ARGS)
{
	double		ra = PG_GETARG_FLOAT8(1) * M_PI / 180.0;
	double		dec = PG_GETARG_FLOAT8(2) * M_PI / 180.0;
	int32		nx = PG_GETARG_INT32(3);
	int32		ny = PG_GETARG_INT32(4);
	double		crpix1 = PG_GETARG_FLOAT8(5), crpix2 = PG_GETARG_FLOAT8(6);
	double		ra0 = PG_GETARG_FLOAT8(7) * M_PI / 180.0, dec0 = PG_GETARG_FLOAT8(8) * M_PI / 180.0;
	double		cdelt1 = PG_GETARG_FLOAT8(9), cdelt2 = PG_GETARG_FLOAT8(10);
	double		c, xi, eta, ix, iy;
	int64		k;
	bytea	   *slice;
	const unsigned char *b;
	uint32		bits;
	float4		value;

	c = sin(dec0) * sin(dec) + cos(dec0) * cos(dec) * cos(ra - ra0);
	if (!(c > 0.0))
		PG_RETURN_NULL();		/* the far hemisphere: not on the grid */
	xi = cos(dec) * sin(ra - ra0) / c;
	eta = (cos(dec0) * sin(dec) - sin(dec0) * cos(dec) * cos(ra - ra0)) / c;
	ix = floor(crpix1 + (xi * 180.0 / M_PI) / cdelt1 + 0.5) - 1.0;
	iy = floor(crpix2 + (eta * 180.0 / M_PI) / cdelt2 + 0.5) - 1.0;
	if (!(ix >= 0.0 && ix < nx && iy >= 0.0 && iy < ny))
		PG_RETURN_NULL();
	k = (int64) iy * nx + (int64) ix;
	slice = PG_GETARG_BYTEA_P_SLICE(0, (int32) (4 * k), 4);
	if (VARSIZE_ANY_EXHDR(slice) != 4)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("exposure map: pixel %lld lies beyond the stored pixels", (long long) k)));
	b = (const unsigned char *) VARDATA_ANY(slice);
	bits = ((uint32) b[0] << 24) | ((uint32) b[1] << 16) | ((uint32) b[2] << 8) | (uint32) b[3];
	memcpy(&value, &bits, sizeof(value));
	PG_RETURN_FLOAT8((double) value);
}
