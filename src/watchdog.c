/*
 * The reader watchdog: limits a reader cannot lift.
 *
 * Readers (members of the role xmm_reader: the web shim, TAP and JDBC users)
 * get a statement timeout and an idle-in-transaction timeout as their login
 * role's settings, but a session may SET them to 0 and a role may change its
 * own defaults. This background worker enforces the limits from outside every
 * session, whatever it set: each interval it looks at pg_stat_activity and
 *   - cancels a reader's statement running longer than
 *     xmmdb.reader_statement_timeout,
 *   - terminates a reader idle in a transaction longer than
 *     xmmdb.reader_idle_in_transaction_timeout,
 *   - terminates a reader backend whose private memory (RssAnon of
 *     /proc/<pid>/status: the heap, not the shared buffers it has touched)
 *     exceeds xmmdb.reader_memory_limit.
 * The settings are the superuser's (postgresql.conf, ALTER SYSTEM: SIGHUP
 * context); 0 turns a limit off. Loaded with shared_preload_libraries =
 * 'xmmdb' (setup/cluster.sh does it); the postmaster restarts the worker if
 * it ever dies. docs/security.md describes the limits.
 */
#include "postgres.h"

#include <stdio.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "tcop/tcopprot.h"

void		_PG_init(void);
PGDLLEXPORT void xmm_watchdog_main(Datum arg);

static int	reader_statement_timeout = 60000;	/* ms */
static int	reader_idle_in_transaction_timeout = 300000;	/* ms */
static int	reader_memory_limit = 2 * 1024 * 1024;	/* kB */
static int	watchdog_interval = 500;	/* ms */

/* Readers' backends, what each is doing, and whether it is over a time limit. */
static const char *const READERS =
"SELECT a.pid, a.usename::text,"
"       a.state = 'active' AND $1 > 0"
"         AND a.query_start < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $1 / 1000.0),"
"       a.state IN ('idle in transaction', 'idle in transaction (aborted)') AND $2 > 0"
"         AND a.state_change < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $2 / 1000.0)"
"  FROM pg_catalog.pg_stat_activity a"
" WHERE a.backend_type = 'client backend'"
"   AND EXISTS (SELECT FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid"
"                WHERE m.member = a.usesysid AND g.rolname = 'xmm_reader')"
"   AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = a.usesysid)";

void
_PG_init(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("xmmdb.reader_statement_timeout",
							"Longest statement of a reader before the watchdog cancels it (0: no limit).",
							NULL, &reader_statement_timeout, 60000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("xmmdb.reader_idle_in_transaction_timeout",
							"Longest a reader may stay idle in a transaction before the watchdog ends its session (0: no limit).",
							NULL, &reader_idle_in_transaction_timeout, 300000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("xmmdb.reader_memory_limit",
							"Most private memory a reader's backend may hold before the watchdog ends its session (0: no limit).",
							NULL, &reader_memory_limit, 2 * 1024 * 1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("xmmdb.watchdog_interval",
							"How often the reader watchdog looks.",
							NULL, &watchdog_interval, 500, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	MarkGUCPrefixReserved("xmmdb");

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "xmmdb");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "xmm_watchdog_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "xmmdb reader watchdog");
	snprintf(worker.bgw_type, BGW_MAXLEN, "xmmdb reader watchdog");
	RegisterBackgroundWorker(&worker);
}

/* Private resident memory of a process in kB (RssAnon), or -1. */
static long
private_memory_kb(int pid)
{
	char		path[64];
	char		line[256];
	long		kb = -1;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
	{
		if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

typedef struct Verdict
{
	int			pid;
	char		user[NAMEDATALEN];
	bool		cancel;
	bool		terminate;
	long		memory_kb;
} Verdict;

static void
look(void)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	Verdict    *verdicts = NULL;
	int			n = 0;

	values[0] = Int32GetDatum(reader_statement_timeout);
	values[1] = Int32GetDatum(reader_idle_in_transaction_timeout);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "xmmdb reader watchdog");
	if (SPI_execute_with_args(READERS, 2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "xmmdb reader watchdog: cannot read pg_stat_activity");
	/* outside SPI's memory, which SPI_finish() frees */
	if (SPI_processed > 0)
		verdicts = MemoryContextAllocZero(TopMemoryContext, sizeof(Verdict) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Verdict    *v = &verdicts[n];
		char	   *user;

		v->pid = DatumGetInt32(SPI_getbinval(tuple, desc, 1, &isnull));
		if (isnull)
			continue;
		user = SPI_getvalue(tuple, desc, 2);
		strlcpy(v->user, user ? user : "?", NAMEDATALEN);
		v->cancel = DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull)) && !isnull;
		v->terminate = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull)) && !isnull;
		v->memory_kb = reader_memory_limit > 0 ? private_memory_kb(v->pid) : -1;
		n++;
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	for (int i = 0; i < n; i++)
	{
		Verdict    *v = &verdicts[i];

		if (reader_memory_limit > 0 && v->memory_kb > reader_memory_limit)
		{
			ereport(LOG, (errmsg("xmmdb reader watchdog: terminating the session of %s (pid %d): "
								 "%ld kB of private memory, over the readers' limit of %d kB",
								 v->user, v->pid, v->memory_kb, reader_memory_limit)));
			kill(v->pid, SIGTERM);
		}
		else if (v->terminate)
		{
			ereport(LOG, (errmsg("xmmdb reader watchdog: terminating the session of %s (pid %d): "
								 "idle in a transaction for more than %d ms",
								 v->user, v->pid, reader_idle_in_transaction_timeout)));
			kill(v->pid, SIGTERM);
		}
		else if (v->cancel)
		{
			ereport(LOG, (errmsg("xmmdb reader watchdog: cancelling the statement of %s (pid %d): "
								 "running for more than %d ms, the readers' limit",
								 v->user, v->pid, reader_statement_timeout)));
			kill(v->pid, SIGINT);
		}
	}
	if (verdicts)
		pfree(verdicts);
}

void
xmm_watchdog_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection("postgres", NULL, 0);

	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 watchdog_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		look();
	}
}
