import { registryImplementation } from '../helpers/registries.js';
import { describeRegistryConformance } from './registry-suite.js';

describeRegistryConformance(registryImplementation('direct'));
