/*
 * Monotonic wall-clock time for measuring how long something took (never
 * for dates): immune to clock changes while a run is going.
 */
#ifndef DF_CORE_CLOCK_H
#define DF_CORE_CLOCK_H

/* Seconds since an arbitrary fixed point. */
double df_clock_seconds(void);

#endif
