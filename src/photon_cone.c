/*
 * xmm.cone_photons: the photons of one packed row of xmm.photon_cell that lie
 * in a cone and pass the event selection, decoded (docs/photons.md,
 * sql/51_photon_cone.sql); xmm.cone_photon_arrays: the same photons as one
 * row of arrays, a column each (bulk delivery: no tuple per photon).
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

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(xmm_cone_photons);
PG_FUNCTION_INFO_V1(xmm_cone_photon_arrays);

/* Arguments, in the order of the SQL declarations (sql/51_photon_cone.sql). */
enum
{
	ARG_CELL, ARG_EXPOSURE, ARG_RA, ARG_DEC, ARG_RADIUS_DEG, ARG_EMIN, ARG_EMAX, ARG_TMIN, ARG_TMAX,
	ARG_RULE, ARG_FLARE_MODE, ARG_FLARE_THRESHOLD, ARG_FLARE,
	N_ARGS
};

/* Output columns: time, ra, dec, pi, pattern, flag, ccdnr, x, y. */
#define N_OUT 9

/* The flare filter of xmm.flare_free (sql/51_event_selection.sql). */
typedef enum
{
	FLARE_OFF, FLARE_PIPELINE, FLARE_RATE
} FlareMode;

/* One packed row, the cone and the selection, decoded from the arguments. */
typedef struct
{
	int			n;				/* photons in the row */
	double		t0;
	int32		x0, y0;
	const int32 *tl, *flag;
	const int16 *th, *dx, *dy, *pi, *pc;
	double		x_ref, y_ref, x_delt, y_delt;
	double		sin_ra_ref, cos_ra_ref, sin_dec_ref, cos_dec_ref;
	double		a, b, c, cos_r;	/* the cone centre in the tangent-plane frame; cos(radius) */
	double		emin, emax, tmin, tmax;
	bool		has_tmin, has_tmax;
	int32		dx_lo, dx_hi, dy_lo, dy_hi;
	int32		pattern_lo, pattern_hi, flag_mask;
	FlareMode	flare;
	int			n_gti;			/* FLARE_PIPELINE: [gti_start, gti_stop) */
	const double *gti_start, *gti_stop;
	bool		gti_sorted;		/* starts ascending and intervals disjoint: binary search */
	int			n_bins;			/* FLARE_RATE: bin k is centred on bin_time1 + k timedel */
	double		bin_time1, timedel, threshold;
	const float4 *rate;
} ConeScan;

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
 * The elements of a one-dimensional array without NULLs of the given type, and
 * as many as *n (-1: any; set to the count).
 */
static const void *
plain_array(ArrayType *a, Oid type, const char *what, const char *name, int *n)
{
	int			count;

	if (ARR_ELEMTYPE(a) != type || ARR_NDIM(a) > 1 || ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s array %s is not a one-dimensional array without NULLs of the stored type", what, name)));
	count = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (*n >= 0 && count != *n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s has arrays of different lengths (%d and %d)", what, *n, count)));
	*n = count;
	return ARR_DATA_PTR(a);
}

/* A field of a row argument; NULL is corrupt data. */
static Datum
field(HeapTupleHeader row, const char *what, const char *name)
{
	bool		isnull;
	Datum		d = GetAttributeByName(row, name, &isnull);

	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("%s has no %s", what, name)));
	return d;
}

static const void *
row_array(HeapTupleHeader row, const char *what, const char *name, Oid type, int *n)
{
	return plain_array(DatumGetArrayTypeP(field(row, what, name)), type, what, name, n);
}

/*
 * The scan of the arguments; false when no photon can pass (a NULL row or
 * cone, or a flare filter and no flare series for the exposure).
 */
static bool
cone_scan_begin(FunctionCallInfo fcinfo, ConeScan *s)
{
	HeapTupleHeader cell, exposure;
	double		ra, dec, radius_deg, sin_ra, cos_ra, sin_dec, cos_dec;
	const int32 *rule;
	int			n_rule = 5, i;
	bool		is_pn;
	char	   *mode;
	const char *packed = "packed photon row";

	for (i = 0; i < N_ARGS; i++)
		if (PG_ARGISNULL(i) && i != ARG_TMIN && i != ARG_TMAX && i != ARG_FLARE_THRESHOLD && i != ARG_FLARE)
			return false;		/* a NULL row or cone has no photons */

	memset(s, 0, sizeof(*s));
	cell = PG_GETARG_HEAPTUPLEHEADER(ARG_CELL);
	exposure = PG_GETARG_HEAPTUPLEHEADER(ARG_EXPOSURE);
	s->n = -1;
	s->t0 = DatumGetFloat8(field(cell, packed, "t0"));
	s->x0 = DatumGetInt32(field(cell, packed, "x0"));
	s->y0 = DatumGetInt32(field(cell, packed, "y0"));
	s->tl = row_array(cell, packed, "tl", INT4OID, &s->n);
	s->th = row_array(cell, packed, "th", INT2OID, &s->n);
	s->dx = row_array(cell, packed, "dx", INT2OID, &s->n);
	s->dy = row_array(cell, packed, "dy", INT2OID, &s->n);
	s->pi = row_array(cell, packed, "pi", INT2OID, &s->n);
	s->pc = row_array(cell, packed, "pc", INT2OID, &s->n);
	s->flag = row_array(cell, packed, "flag", INT4OID, &s->n);

	s->x_ref = DatumGetFloat8(field(exposure, "exposure", "x_ref"));
	s->y_ref = DatumGetFloat8(field(exposure, "exposure", "y_ref"));
	s->x_delt = DatumGetFloat8(field(exposure, "exposure", "x_delt"));
	s->y_delt = DatumGetFloat8(field(exposure, "exposure", "y_delt"));
	s->sin_ra_ref = DatumGetFloat8(field(exposure, "exposure", "sin_ra_ref"));
	s->cos_ra_ref = DatumGetFloat8(field(exposure, "exposure", "cos_ra_ref"));
	s->sin_dec_ref = DatumGetFloat8(field(exposure, "exposure", "sin_dec_ref"));
	s->cos_dec_ref = DatumGetFloat8(field(exposure, "exposure", "cos_dec_ref"));
	is_pn = strcmp(TextDatumGetCString(field(exposure, "exposure", "instrument")), "EPN") == 0;

	ra = PG_GETARG_FLOAT8(ARG_RA);
	dec = PG_GETARG_FLOAT8(ARG_DEC);
	radius_deg = PG_GETARG_FLOAT8(ARG_RADIUS_DEG);
	s->emin = PG_GETARG_FLOAT8(ARG_EMIN);
	s->emax = PG_GETARG_FLOAT8(ARG_EMAX);
	s->has_tmin = !PG_ARGISNULL(ARG_TMIN);
	s->has_tmax = !PG_ARGISNULL(ARG_TMAX);
	if (s->has_tmin)
		s->tmin = PG_GETARG_FLOAT8(ARG_TMIN);
	if (s->has_tmax)
		s->tmax = PG_GETARG_FLOAT8(ARG_TMAX);

	/* The event selection: xmm.event_rule's [pattern_lo, hi_pn, hi_mos, mask_pn, mask_mos]. */
	rule = plain_array(PG_GETARG_ARRAYTYPE_P(ARG_RULE), INT4OID, "event rule", "rule", &n_rule);
	s->pattern_lo = rule[0];
	s->pattern_hi = is_pn ? rule[1] : rule[2];
	s->flag_mask = is_pn ? rule[3] : rule[4];

	/* The flare filter: xmm.flare_mode's name, the exposure's flare_series row. */
	mode = text_to_cstring(PG_GETARG_TEXT_PP(ARG_FLARE_MODE));
	if (strcmp(mode, "off") == 0)
		s->flare = FLARE_OFF;
	else if (strcmp(mode, "pipeline") == 0)
		s->flare = FLARE_PIPELINE;
	else if (strcmp(mode, "rate") == 0 && !PG_ARGISNULL(ARG_FLARE_THRESHOLD))
		s->flare = FLARE_RATE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown flare filter mode \"%s\"", mode)));
	if (s->flare != FLARE_OFF)
	{
		HeapTupleHeader flare;
		const char *series = "flare series";

		if (PG_ARGISNULL(ARG_FLARE))
			return false;		/* no flare series loaded: no flare-free time */
		flare = PG_GETARG_HEAPTUPLEHEADER(ARG_FLARE);
		if (s->flare == FLARE_PIPELINE)
		{
			s->n_gti = -1;
			s->gti_start = row_array(flare, series, "gti_start", FLOAT8OID, &s->n_gti);
			s->gti_stop = row_array(flare, series, "gti_stop", FLOAT8OID, &s->n_gti);
			s->gti_sorted = true;
			for (i = 1; i < s->n_gti; i++)
				if (!(s->gti_start[i] >= s->gti_stop[i - 1]))
					s->gti_sorted = false;
		}
		else
		{
			const double *bin_time;

			s->n_bins = -1;
			bin_time = row_array(flare, series, "time", FLOAT8OID, &s->n_bins);
			s->rate = row_array(flare, series, "rate", FLOAT4OID, &s->n_bins);
			if (s->n_bins == 0)
				return false;	/* no bins: no flare-free time (the table never holds this) */
			s->bin_time1 = bin_time[0];
			s->timedel = DatumGetFloat8(field(flare, series, "timedel"));
			s->threshold = PG_GETARG_FLOAT8(ARG_FLARE_THRESHOLD);
		}
	}

	/* The cone centre in the exposure's tangent-plane frame. */
	sin_ra = sin(to_radians(ra));
	cos_ra = cos(to_radians(ra));
	sin_dec = sin(to_radians(dec));
	cos_dec = cos(to_radians(dec));
	s->a = cos_dec * (sin_ra * s->cos_ra_ref - cos_ra * s->sin_ra_ref);
	s->b = s->cos_dec_ref * sin_dec - s->sin_dec_ref * cos_dec * (cos_ra * s->cos_ra_ref + sin_ra * s->sin_ra_ref);
	s->c = s->sin_dec_ref * sin_dec + s->cos_dec_ref * cos_dec * (cos_ra * s->cos_ra_ref + sin_ra * s->sin_ra_ref);
	s->cos_r = cos(to_radians(radius_deg));

	/* The pixel box of the cone's image, in the row's dx/dy offsets, one pixel of margin. */
	s->dx_lo = s->dy_lo = PG_INT16_MIN;
	s->dx_hi = s->dy_hi = PG_INT16_MAX;
	if (s->c > 0 && acos(Min(s->c, 1.0)) + to_radians(radius_deg) < to_radians(80.0))
	{
		double		xc = s->x_ref + to_degrees(s->a / s->c) / s->x_delt;
		double		yc = s->y_ref + to_degrees(s->b / s->c) / s->y_delt;
		double		hw = radius_deg / pow(cos(acos(Min(s->c, 1.0)) + to_radians(radius_deg)), 2);

		s->dx_lo = (int32) Max(floor(xc - hw / fabs(s->x_delt)) - s->x0 - 1, PG_INT16_MIN);
		s->dx_hi = (int32) Min(ceil(xc + hw / fabs(s->x_delt)) - s->x0 + 1, PG_INT16_MAX);
		s->dy_lo = (int32) Max(floor(yc - hw / fabs(s->y_delt)) - s->y0 - 1, PG_INT16_MIN);
		s->dy_hi = (int32) Min(ceil(yc + hw / fabs(s->y_delt)) - s->y0 + 1, PG_INT16_MAX);
	}
	return true;
}

/* xmm.flare_free's rule for time t (sql/51_event_selection.sql). */
static bool
flare_free(const ConeScan *s, double t)
{
	if (s->flare == FLARE_PIPELINE)
	{
		int			lo = 0, hi = s->n_gti - 1, i;

		if (!s->gti_sorted)
		{
			for (i = 0; i < s->n_gti; i++)
				if (t >= s->gti_start[i] && t < s->gti_stop[i])
					return true;
			return false;
		}
		while (lo <= hi)		/* the last interval starting at or before t */
		{
			int			mid = (lo + hi) / 2;

			if (s->gti_start[mid] <= t)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		return hi >= 0 && t < s->gti_stop[hi];
	}
	else
	{
		double		k;

		if (fabs(t - s->bin_time1) > 1e9 * s->timedel)
			return false;
		k = rint(floor((t - s->bin_time1) / s->timedel + 0.5));		/* ::integer of the SQL */
		return k >= 0 && k < s->n_bins && (double) s->rate[(int) k] <= s->threshold;
	}
}

/*
 * Photon i if it lies in the cone and passes the selection: its time and
 * tangent-plane position.
 */
static inline bool
cone_photon(const ConeScan *s, int i, double *time, double *xi, double *eta)
{
	int			pattern = s->pc[i] >> 8;

	if (s->dx[i] < s->dx_lo || s->dx[i] > s->dx_hi || s->dy[i] < s->dy_lo || s->dy[i] > s->dy_hi)
		return false;
	if ((double) s->pi[i] < s->emin || (double) s->pi[i] > s->emax)
		return false;
	if (pattern < s->pattern_lo || pattern > s->pattern_hi || (s->flag[i] & s->flag_mask) != 0)
		return false;
	*xi = to_radians(((double) (s->x0 + s->dx[i]) - s->x_ref) * s->x_delt);
	*eta = to_radians(((double) (s->y0 + s->dy[i]) - s->y_ref) * s->y_delt);
	if (!(s->a * *xi + s->b * *eta + s->c >= s->cos_r * sqrt(1 + *xi * *xi + *eta * *eta)))
		return false;
	*time = s->t0 + ((double) s->th[i] * 2147.483648 + (double) s->tl[i] * 1e-6);
	if ((s->has_tmin && !(*time >= s->tmin)) || (s->has_tmax && !(*time <= s->tmax)))
		return false;
	return s->flare == FLARE_OFF || flare_free(s, *time);
}

/* xmm.tan_ra and xmm.tan_dec: gnomonic deprojection, FITS WCS Paper II. */
static inline void
sky_position(const ConeScan *s, double xi, double eta, double *ra, double *dec)
{
	double		q = s->cos_dec_ref - eta * s->sin_dec_ref;

	*ra = 180.0 + to_degrees(atan2(-(s->sin_ra_ref * q + s->cos_ra_ref * xi),
								   -(s->cos_ra_ref * q - s->sin_ra_ref * xi)));
	*dec = to_degrees(atan2(s->sin_dec_ref + eta * s->cos_dec_ref, sqrt(xi * xi + pow(q, 2))));
}

Datum
xmm_cone_photons(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ConeScan	s;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (!cone_scan_begin(fcinfo, &s))
		return (Datum) 0;

	for (i = 0; i < s.n; i++)
	{
		double		xi, eta, time, ra, dec;
		Datum		values[N_OUT];
		bool		nulls[N_OUT] = {false};

		if (!cone_photon(&s, i, &time, &xi, &eta))
			continue;
		sky_position(&s, xi, eta, &ra, &dec);
		values[0] = Float8GetDatum(time);
		values[1] = Float8GetDatum(ra);
		values[2] = Float8GetDatum(dec);
		values[3] = Int32GetDatum((int32) s.pi[i]);
		values[4] = Int16GetDatum((int16) (s.pc[i] >> 8));
		values[5] = Int32GetDatum(s.flag[i]);
		values[6] = Int16GetDatum((int16) (s.pc[i] & 255));
		values[7] = Int32GetDatum(s.x0 + s.dx[i]);
		values[8] = Int32GetDatum(s.y0 + s.dy[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* A one-dimensional array of n elements of a fixed-width, by-value or float8 type. */
static Datum
column_array(void *elems, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ArrayType  *a;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	a = construct_empty_array(type);
	if (n == 0)
		return PointerGetDatum(a);
	{
		int			dims[1] = {n};
		int			lbs[1] = {1};
		Size		nbytes = (Size) n * typlen;
		Size		size = ARR_OVERHEAD_NONULLS(1) + nbytes;

		if (!AllocSizeIsValid(size))
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("too many photons for one array")));
		a = (ArrayType *) palloc0(size);
		SET_VARSIZE(a, size);
		a->ndim = 1;
		a->dataoffset = 0;
		a->elemtype = type;
		memcpy(ARR_DIMS(a), dims, sizeof(dims));
		memcpy(ARR_LBOUND(a), lbs, sizeof(lbs));
		memcpy(ARR_DATA_PTR(a), elems, nbytes);
	}
	return PointerGetDatum(a);
}

Datum
xmm_cone_photon_arrays(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ConeScan	s;
	int			i, k = 0;
	double	   *time, *ra, *dec;
	int32	   *pi, *flag, *x, *y;
	int16	   *pattern, *ccdnr;
	Datum		values[N_OUT + 1];
	bool		nulls[N_OUT + 1] = {false};

	InitMaterializedSRF(fcinfo, 0);
	if (!cone_scan_begin(fcinfo, &s) || s.n == 0)
		return (Datum) 0;

	time = palloc(s.n * sizeof(double));
	ra = palloc(s.n * sizeof(double));
	dec = palloc(s.n * sizeof(double));
	pi = palloc(s.n * sizeof(int32));
	flag = palloc(s.n * sizeof(int32));
	x = palloc(s.n * sizeof(int32));
	y = palloc(s.n * sizeof(int32));
	pattern = palloc(s.n * sizeof(int16));
	ccdnr = palloc(s.n * sizeof(int16));
	for (i = 0; i < s.n; i++)
	{
		double		xi, eta;

		if (!cone_photon(&s, i, &time[k], &xi, &eta))
			continue;
		sky_position(&s, xi, eta, &ra[k], &dec[k]);
		pi[k] = s.pi[i];
		pattern[k] = (int16) (s.pc[i] >> 8);
		flag[k] = s.flag[i];
		ccdnr[k] = (int16) (s.pc[i] & 255);
		x[k] = s.x0 + s.dx[i];
		y[k] = s.y0 + s.dy[i];
		k++;
	}
	if (k == 0)
		return (Datum) 0;

	values[0] = Int32GetDatum(k);
	values[1] = column_array(time, k, FLOAT8OID);
	values[2] = column_array(ra, k, FLOAT8OID);
	values[3] = column_array(dec, k, FLOAT8OID);
	values[4] = column_array(pi, k, INT4OID);
	values[5] = column_array(pattern, k, INT2OID);
	values[6] = column_array(flag, k, INT4OID);
	values[7] = column_array(ccdnr, k, INT2OID);
	values[8] = column_array(x, k, INT4OID);
	values[9] = column_array(y, k, INT4OID);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
