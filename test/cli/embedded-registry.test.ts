import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { defineRegistryCases } from './cases.js';

defineRegistryCases('cli against the embedded registry', () => startEmbeddedRegistry());
