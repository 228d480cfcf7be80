/*
 * xmm.cone_photons: the photons of one packed row of xmm.photon_cell that lie
 * in a cone, decoded (docs/photons.md, sql/51_photon_query.sql).
 *
 * The same arithmetic as the SQL definitions of the view xmm.photon
 * (xmm.photon_time, xmm.tan_ra, xmm.tan_dec) and, before this file, of
 * xmm_photons, in the same order of operations, so every value is bit-identical
 * to what the view computes. C only because it runs once per stored photon:
 * SQL expressions cost ~1 us a photon here, this loop a few ns.
 *
 * The cone test runs in the exposure's tangent plane: with (a, b, c) the
 * direction of the cone centre in the frame (east, north, reference point), a
 * photon at tangent-plane (xi, eta) is within r iff
 *     a xi + b eta + c >= cos(r) sqrt(1 + xi^2 + eta^2).
 * Before it, a box of sky pixels that holds the cone's image rejects most
 * photons of the row with four integer compares: the gnomonic scale at angle t
 * from the reference point is at most sec^2 t, so the image lies within
 * r sec^2(rho + r) of the projected centre (rho: the centre's angle from the
 * reference point). Past 80 degrees from the reference point, no box.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/tuplestore.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(xmm_cone_photons);

/* Arguments, in the order of the SQL declaration (sql/51_photon_query.sql). */
enum
{
	ARG_T0, ARG_X0, ARG_Y0, ARG_TL, ARG_TH, ARG_DX, ARG_DY, ARG_PI, ARG_PC, ARG_FLAG,
	ARG_X_REF, ARG_Y_REF, ARG_X_DELT, ARG_Y_DELT,
	ARG_SIN_RA_REF, ARG_COS_RA_REF, ARG_SIN_DEC_REF, ARG_COS_DEC_REF,
	ARG_RA, ARG_DEC, ARG_RADIUS_DEG, ARG_EMIN, ARG_EMAX, ARG_TMIN, ARG_TMAX,
	N_ARGS
};

/* Output columns: time, ra, dec, pi, pattern, flag, ccdnr, x, y. */
#define N_OUT 9

/* PostgreSQL's radians() and degrees() (utils/adt/float.c). */
static inline double
to_radians(double deg)
{
	return deg * RADIANS_PER_DEGREE;
}

static inline double
to_degrees(double rad)
{
	return rad / RADIANS_PER_DEGREE;
}

/*
 * The elements of a packed array argument: one-dimensional, no NULLs, of the
 * stored type, and as many as the row's other arrays (*n; -1 for the first).
 */
static const void *
packed_array(FunctionCallInfo fcinfo, int argno, Oid type, const char *name, int *n)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	int			count;

	if (ARR_ELEMTYPE(a) != type || ARR_NDIM(a) > 1 || ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("packed photon array %s is not a one-dimensional array without NULLs of the stored type",
						name)));
	count = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (*n >= 0 && count != *n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("packed photon row has arrays of different lengths (%d and %d)", *n, count)));
	*n = count;
	return ARR_DATA_PTR(a);
}

Datum
xmm_cone_photons(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	double		t0, x_ref, y_ref, x_delt, y_delt;
	double		sin_ra_ref, cos_ra_ref, sin_dec_ref, cos_dec_ref;
	double		ra, dec, radius_deg, emin, emax, tmin = 0, tmax = 0;
	bool		has_tmin, has_tmax;
	int32		x0, y0;
	int			n = -1, i;
	const int32 *tl, *flag;
	const int16 *th, *dx, *dy, *pi, *pc;
	double		sin_ra, cos_ra, sin_dec, cos_dec, a, b, c, cos_r;
	int32		dx_lo = PG_INT16_MIN, dx_hi = PG_INT16_MAX, dy_lo = PG_INT16_MIN, dy_hi = PG_INT16_MAX;

	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < N_ARGS; i++)
		if (PG_ARGISNULL(i) && i != ARG_TMIN && i != ARG_TMAX)
			return (Datum) 0;	/* a NULL row or cone has no photons */

	t0 = PG_GETARG_FLOAT8(ARG_T0);
	x0 = PG_GETARG_INT32(ARG_X0);
	y0 = PG_GETARG_INT32(ARG_Y0);
	tl = packed_array(fcinfo, ARG_TL, INT4OID, "tl", &n);
	th = packed_array(fcinfo, ARG_TH, INT2OID, "th", &n);
	dx = packed_array(fcinfo, ARG_DX, INT2OID, "dx", &n);
	dy = packed_array(fcinfo, ARG_DY, INT2OID, "dy", &n);
	pi = packed_array(fcinfo, ARG_PI, INT2OID, "pi", &n);
	pc = packed_array(fcinfo, ARG_PC, INT2OID, "pc", &n);
	flag = packed_array(fcinfo, ARG_FLAG, INT4OID, "flag", &n);

	x_ref = PG_GETARG_FLOAT8(ARG_X_REF);
	y_ref = PG_GETARG_FLOAT8(ARG_Y_REF);
	x_delt = PG_GETARG_FLOAT8(ARG_X_DELT);
	y_delt = PG_GETARG_FLOAT8(ARG_Y_DELT);
	sin_ra_ref = PG_GETARG_FLOAT8(ARG_SIN_RA_REF);
	cos_ra_ref = PG_GETARG_FLOAT8(ARG_COS_RA_REF);
	sin_dec_ref = PG_GETARG_FLOAT8(ARG_SIN_DEC_REF);
	cos_dec_ref = PG_GETARG_FLOAT8(ARG_COS_DEC_REF);
	ra = PG_GETARG_FLOAT8(ARG_RA);
	dec = PG_GETARG_FLOAT8(ARG_DEC);
	radius_deg = PG_GETARG_FLOAT8(ARG_RADIUS_DEG);
	emin = PG_GETARG_FLOAT8(ARG_EMIN);
	emax = PG_GETARG_FLOAT8(ARG_EMAX);
	has_tmin = !PG_ARGISNULL(ARG_TMIN);
	has_tmax = !PG_ARGISNULL(ARG_TMAX);
	if (has_tmin)
		tmin = PG_GETARG_FLOAT8(ARG_TMIN);
	if (has_tmax)
		tmax = PG_GETARG_FLOAT8(ARG_TMAX);

	/* The cone centre in the exposure's tangent-plane frame. */
	sin_ra = sin(to_radians(ra));
	cos_ra = cos(to_radians(ra));
	sin_dec = sin(to_radians(dec));
	cos_dec = cos(to_radians(dec));
	a = cos_dec * (sin_ra * cos_ra_ref - cos_ra * sin_ra_ref);
	b = cos_dec_ref * sin_dec - sin_dec_ref * cos_dec * (cos_ra * cos_ra_ref + sin_ra * sin_ra_ref);
	c = sin_dec_ref * sin_dec + cos_dec_ref * cos_dec * (cos_ra * cos_ra_ref + sin_ra * sin_ra_ref);
	cos_r = cos(to_radians(radius_deg));

	/* The pixel box of the cone's image, in the row's dx/dy offsets, one pixel of margin. */
	if (c > 0 && acos(Min(c, 1.0)) + to_radians(radius_deg) < to_radians(80.0))
	{
		double		xc = x_ref + to_degrees(a / c) / x_delt;
		double		yc = y_ref + to_degrees(b / c) / y_delt;
		double		hw = radius_deg / pow(cos(acos(Min(c, 1.0)) + to_radians(radius_deg)), 2);

		dx_lo = (int32) Max(floor(xc - hw / fabs(x_delt)) - x0 - 1, PG_INT16_MIN);
		dx_hi = (int32) Min(ceil(xc + hw / fabs(x_delt)) - x0 + 1, PG_INT16_MAX);
		dy_lo = (int32) Max(floor(yc - hw / fabs(y_delt)) - y0 - 1, PG_INT16_MIN);
		dy_hi = (int32) Min(ceil(yc + hw / fabs(y_delt)) - y0 + 1, PG_INT16_MAX);
	}

	for (i = 0; i < n; i++)
	{
		double		xi, eta, time, q;
		Datum		values[N_OUT];
		bool		nulls[N_OUT] = {false};

		if (dx[i] < dx_lo || dx[i] > dx_hi || dy[i] < dy_lo || dy[i] > dy_hi)
			continue;
		if ((double) pi[i] < emin || (double) pi[i] > emax)
			continue;
		xi = to_radians(((double) (x0 + dx[i]) - x_ref) * x_delt);
		eta = to_radians(((double) (y0 + dy[i]) - y_ref) * y_delt);
		if (!(a * xi + b * eta + c >= cos_r * sqrt(1 + xi * xi + eta * eta)))
			continue;
		time = t0 + ((double) th[i] * 2147.483648 + (double) tl[i] * 1e-6);
		if ((has_tmin && !(time >= tmin)) || (has_tmax && !(time <= tmax)))
			continue;

		/* xmm.tan_ra and xmm.tan_dec: gnomonic deprojection, FITS WCS Paper II */
		q = cos_dec_ref - eta * sin_dec_ref;
		values[0] = Float8GetDatum(time);
		values[1] = Float8GetDatum(180.0 + to_degrees(atan2(-(sin_ra_ref * q + cos_ra_ref * xi),
															 -(cos_ra_ref * q - sin_ra_ref * xi))));
		values[2] = Float8GetDatum(to_degrees(atan2(sin_dec_ref + eta * cos_dec_ref,
													 sqrt(xi * xi + pow(q, 2)))));
		values[3] = Int32GetDatum((int32) pi[i]);
		values[4] = Int16GetDatum((int16) (pc[i] >> 8));
		values[5] = Int32GetDatum(flag[i]);
		values[6] = Int16GetDatum((int16) (pc[i] & 255));
		values[7] = Int32GetDatum(x0 + dx[i]);
		values[8] = Int32GetDatum(y0 + dy[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
