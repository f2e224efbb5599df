/**
 * CPU time of this process in milliseconds (user + system, all its threads). The benchmark
 * machine is shared: CPU time is what a kernel costs regardless of how many other processes
 * compete for the cores, wall time is what a user waits; the report gives both.
 */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
