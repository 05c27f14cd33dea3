/*
 * latency: nearest-rank bucket search and linear interpolation over a
 * histogram of at most 62 buckets; nothing here touches the database.
 */
#include "latency.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void latency_hist_add(struct latency_hist *h, unsigned int b, uint64_t n)
{
	if (b >= WINDOW_BUCKETS)
		return;
	h->counts[b] += n;
	h->total += n;
}

uint64_t latency_bucket_lo_us(unsigned int b)
{
	return b == 0 || b >= WINDOW_BUCKETS ? 0 : window_bucket_le_us[b - 1];
}

uint64_t latency_bucket_hi_us(unsigned int b)
{
	return b + 1 >= WINDOW_BUCKETS ? UINT64_MAX : window_bucket_le_us[b];
}

bool latency_percentile(const struct latency_hist *h, double q,
			struct latency_estimate *out)
{
	uint64_t rank, below = 0;
	unsigned int b;
	double lo, hi;

	if (!h->total || !(q > 0))
		return false;
	if (q > 1)
		q = 1;
	rank = (uint64_t)ceil(q * (double)h->total);
	if (rank == 0)
		rank = 1;
	for (b = 0; b + 1 < WINDOW_BUCKETS && below + h->counts[b] < rank; b++)
		below += h->counts[b];
	out->bucket = b;
	out->lo_us = latency_bucket_lo_us(b);
	out->hi_us = latency_bucket_hi_us(b);
	if (h->max_us && out->hi_us > h->max_us)
		out->hi_us = h->max_us > out->lo_us ? h->max_us : out->lo_us;
	if (out->hi_us == UINT64_MAX)   /* +Inf and no maximum: its bound */
		out->hi_us = out->lo_us;
	lo = (double)out->lo_us;
	hi = (double)out->hi_us;
	out->value_us = h->counts[b] ?
		lo + (hi - lo) * (double)(rank - below) / (double)h->counts[b] : lo;
	return true;
}

int64_t latency_parse_us(const char *s)
{
	static const struct {
		const char *unit;
		double us;
	} units[] = {{"us", 1}, {"ms", 1e3}, {"s", 1e6}};
	double v = 0, scale = 1;
	bool digits = false, dot = false;
	const char *p = s;

	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			digits = true;
			if (dot)
				v += (*p - '0') * (scale /= 10);
			else
				v = v * 10 + (*p - '0');
		} else if (*p == '.' && !dot) {
			dot = true;
		} else {
			break;
		}
	}
	if (!digits || v > 1e12)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(p, units[i].unit))
			return (int64_t)llround(v * units[i].us);
	return -1;
}
