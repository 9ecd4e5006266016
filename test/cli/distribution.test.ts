import { startDistribution } from '../helpers/distribution.js';
import { defineRegistryCases } from './cases.js';

defineRegistryCases('cli against CNCF Distribution', () => startDistribution());
