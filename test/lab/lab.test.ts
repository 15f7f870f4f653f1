/**
 * The lab tests, in order, in one file: they share one local lab that the
 * first builds and boots and the last tears down, and each chapter runs on
 * what the chapters before it built. Importing them here registers their
 * suites in this order; nothing runs them in parallel.
 */
import './00-lab.lab.ts';
import './01-cloud-computing.lab.ts';
import './02-openstack-ha-architecture.lab.ts';
import './03-pacemaker.lab.ts';
import './04-haproxy-keepalived.lab.ts';
import './05-rabbitmq.lab.ts';
import './06-memcached-and-redis.lab.ts';
import './07-mariadb-galera.lab.ts';
import './99-teardown.lab.ts';
